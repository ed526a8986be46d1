"""How often a node's audit log records the messages it refused as not its coordinator's.

Anyone who can publish on the broker can put a message on a node's queue; one audit entry per
such message would let them grow the node's tamper-evident log without bound. So they are
counted, and an entry is written for the first and then at most once per ``every``, carrying
how many were refused since the last one (this one included). Counted per worker process: a
count not yet written when the process stops is lost from the log (the warning lines of the
process's own log still show the entries written)."""

from __future__ import annotations

from datetime import datetime, timedelta


class Tally:
    def __init__(self, every: timedelta = timedelta(minutes=10)):
        self.every = every
        self.count = 0
        self.last: datetime | None = None

    def note(self, now: datetime) -> int | None:
        """Count one refused message; how many to write in an entry now, or None (not yet)."""
        self.count += 1
        if self.last is not None and timedelta(0) <= now - self.last < self.every:
            return None
        count, self.count, self.last = self.count, 0, now
        return count
