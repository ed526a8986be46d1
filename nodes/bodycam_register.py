"""The register of body-worn clips a site has taken: one row per clip (device, SHA-256, the
UTC day it was recorded, its redacted file and vault segment). It is what the ``duplicate``
check reads, so that check does not depend on the redacted file still being there, and it is
how retention finds the redacted copies to delete: a row and its redacted file go together
when the recording day is past the device's retention (``nodes.retention.Retention``, the
vault's own rule), unless the clip's vault segment is on an active legal hold. A clip recorded
before the first kept day is refused at upload (``implausible_time``), so a purged row cannot
let the same clip back in."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from datetime import date, datetime
from pathlib import Path

from audit.records import rfc3339

# the body-worn store's schema: the upload nonces already spent (``nodes.bodycam_ingest``)
# came first, the clips register second
MIGRATIONS = ("CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, device TEXT NOT NULL,"
              " taken_at TEXT NOT NULL);",
              "CREATE TABLE IF NOT EXISTS clips (device TEXT NOT NULL, sha256 TEXT NOT NULL,"
              " day TEXT NOT NULL, redacted TEXT NOT NULL, segment TEXT NOT NULL,"
              " taken_at TEXT NOT NULL, PRIMARY KEY (device, sha256));",)


class ClipRegister:
    """The ``clips`` table in the body-worn store (``Stores.bodycam_nonces``)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def taken(self, device: str, sha256: str) -> bool:
        return self.db.execute("SELECT 1 FROM clips WHERE device = ? AND sha256 = ?",
                               (device, sha256)).fetchone() is not None

    def record(self, device: str, sha256: str, day: date, redacted: Path, segment: str,
               now: datetime) -> None:
        self.db.execute("INSERT INTO clips VALUES (?, ?, ?, ?, ?, ?)",
                        (device, sha256, day.isoformat(), redacted.name, segment, rfc3339(now)))

    def purge(self, folder: Path, first_kept_day: Callable[[str], date], held: Collection[str],
              announce: Callable[[dict[str, int]], None]) -> int:
        """Delete the redacted clips (in ``folder``) and their rows whose recording day is
        before their device's first kept day, except those whose segment is in ``held``;
        ``announce`` (per device, how many) is called before anything is deleted."""
        doomed = [(device, sha256, redacted) for device, sha256, day, redacted, segment
                  in self.db.execute("SELECT device, sha256, day, redacted, segment FROM clips")
                  if date.fromisoformat(day) < first_kept_day(device) and segment not in held]
        if not doomed:
            return 0
        per_device: dict[str, int] = {}
        for device, _, _ in doomed:
            per_device[device] = per_device.get(device, 0) + 1
        announce(per_device)
        for device, sha256, redacted in doomed:
            # the name is the node's own (device and SHA-256): never a path from the row
            (folder / Path(redacted).name).unlink(missing_ok=True)
            self.db.execute("DELETE FROM clips WHERE device = ? AND sha256 = ?",
                            (device, sha256))
        return len(doomed)
