"""The same probe as ``clip_junk_grows_public_log.py`` against real processes: a real
``safecity coordinator worker`` on the city's broker, and junk ``CLIP_TASK`` messages published
on ``LIVE_QUEUE`` with nothing but broker access (no node key, no request). Counts the entries
the worker appends to the city's audit log.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_junk_real_worker.py
Exit 1 = about one permanent entry per junk message; 0 = bounded.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

from celery import Celery

from contract.tasks import CLIP_TASK, LIVE_QUEUE
from tests.support.world import embedded_world

JUNK = 50


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-junk-real-")))
    try:
        world.add_node("alpha", "site-a")
        world.start_coordinator_worker()
        before = world.svc.audit.size()
        broker = Celery("anyone-on-the-broker", broker=world.broker)
        for _ in range(JUNK):
            broker.send_task(CLIP_TASK, args=[{"refusal": {"request_id": str(uuid.uuid4())}}],
                             queue=LIVE_QUEUE)
        deadline, grown = time.monotonic() + 180, 0
        while time.monotonic() < deadline and grown < JUNK:
            time.sleep(2)
            grown = world.svc.audit.size() - before
        print(f"{JUNK} junk messages on {LIVE_QUEUE} -> the real worker appended {grown} "
              "entries to the city's audit log")
    finally:
        world.stop_coordinator_worker()
        world.close()
    return 1 if grown >= JUNK // 2 else 0


if __name__ == "__main__":
    sys.exit(main())
