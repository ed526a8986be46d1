"""Probe (medium, attacker: anyone who can publish a task on the coordinator's LIVE_QUEUE: every
enrolled node's broker login, a compromised node, or whoever holds a broker password): each junk
``CLIP_TASK`` message becomes one permanent entry in the city's public, witnessed audit log.

The worker's clip task (``coordinator.worker``, ``clip``) answers every ``ClipRejected`` with
``rejected(...)``: an ``access_denied`` / ``evidence_clip_rejected`` entry appended to the
append-only log (cosigned by witnesses, mirrored, never pruned), with the rejection text as a
sealed detail (which quotes the message's own key names, so the sender also chooses up to
~500 characters of text kept in the permanent log: this script writes a name and an address
there). Nothing is counted, aggregated or rate-limited first, and the check that fails
first needs no key at all (an unsigned, malformed or unknown-request message). The HTTP side was
fixed for exactly this (SECURITY.md, red team finding 8: anonymous denials become one entry per
interval) and so was the node's clip inbox (clip red team findings 4/5: unauthenticated messages
are summed up at most every 10 minutes); the coordinator's clip intake was not. (The evidence
task, ``evidence_rejected``, has the same shape; the clip task adds a second door.)

This script runs the worker's real CLIP_TASK (``worker_app(...).tasks[CLIP_TASK].apply``, as
``tests/unit/test_clip_coordinator.py`` does) on N unsigned junk messages and counts the log.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_junk_grows_public_log.py
Exit 1 = the log grew by about one entry per junk message; 0 = bounded.
Suggested fix: as the node and the HTTP denials do, count refusals of unauthenticated clip (and
evidence) messages per interval and write one aggregated entry (counts per claimed node in the
sealed details); write a per-message entry only for a message that verified under an enrolled
node's key (then the node is accountable, and its rate can be bounded like its events).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from contract.tasks import CLIP_TASK
from coordinator.worker import worker_app
from tests.support.world import embedded_world
from tests.unit.test_clip_coordinator import T0

JUNK = 200
WRITTEN = "Anything the sender likes, kept for good: John Smith, 12 Main Street"


def main() -> int:
    logging.getLogger("coordinator.worker").setLevel(logging.ERROR)  # one line per message
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-junk-")))
    try:
        world.set_time(T0 + timedelta(days=1))
        world.add_node("alpha", "site-a")
        task = worker_app(world.settings, lambda: world.svc).tasks[CLIP_TASK]
        before, started = world.svc.audit.size(), time.perf_counter()
        for _ in range(JUNK):
            # no signature, no key, a request id nobody made: all a broker login needs
            task.apply(args=[{"refusal": {"request_id": str(uuid.uuid4())}}]).get()
        grown = world.svc.audit.size() - before
        print(f"{JUNK} unsigned junk clip messages -> {grown} new entries in the public audit "
              f"log ({time.perf_counter() - started:.1f} s)")
        last = next(iter(world.svc.audit.entries(world.svc.audit.size() - 1, 1))).record
        print(f"the last: action {last.action}, outcome {last.outcome}")
        # the sealed reason quotes the message's own key names: text of the sender's choosing
        task.apply(args=[{"refusal": {WRITTEN: 1}}]).get()
        index = world.svc.audit.size() - 1
        reason = world.svc.audit.details(index).get("reason", b"").decode()
        print(f"entry {index}'s sealed reason carries the sender's text: {WRITTEN in reason}")
    finally:
        world.close()
    return 1 if grown >= JUNK // 2 else 0


if __name__ == "__main__":
    sys.exit(main())
