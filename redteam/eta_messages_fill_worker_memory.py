"""The worker's memory filled by tiny messages dated ahead, and filled again every minute.

A Celery message may carry an ``eta``: the worker takes it off the broker at once and keeps it
in memory, unacknowledged, until then (Celery raises its prefetch limit for each such message,
so ``worker_prefetch_multiplier = 1`` does not bound them). The coordinator's worker honours
the ``eta`` of any message on its queues, whoever sent it. On Redis, a message unacknowledged
for ``visibility_timeout`` (60 s, ``coordinator.worker``) is put back on the queue, and the
worker takes it again and keeps a second copy, and so on every minute: memory grows with the
messages sent times the minutes until their ``eta``. A message dated a day ahead is 1,440
copies by then, each run when its time comes.

A real ``safecity coordinator worker`` process on Redis (databases 14 and 15 of
127.0.0.1:6379, flushed first), SQLite for the coordinator's database. ``SENT`` housekeeping
messages (a few hundred bytes each, no key) dated a day ahead; the worker's resident memory
measured after it took them and after two restore intervals.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/eta_messages_fill_worker_memory.py
Exit 1 = the worker holds the dated messages (and copies of them); 0 = it does not.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from celery import Celery

from contract.tasks import EVENTS_QUEUE, HOUSEKEEPING_TASK
from tests.support.world import World

SENT = 5000
BROKER, BACKEND = "redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/15"


def resident_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0


def main() -> int:
    broker = redis.Redis.from_url(BROKER)
    broker.flushdb()
    root = Path(tempfile.mkdtemp(prefix="rt-eta-"))
    world = World(root, f"sqlite:///{root / 'coordinator.sqlite'}", BROKER, BACKEND)
    try:
        world.start_coordinator_worker()
        assert world.coordinator_worker is not None
        pid = world.coordinator_worker.pid
        time.sleep(10)
        idle = resident_mb(pid)
        attacker = Celery("anyone-on-the-broker", broker=BROKER)
        eta = datetime.now(UTC) + timedelta(days=1)
        with attacker.producer_or_acquire() as producer:
            for _ in range(SENT):
                attacker.send_task(HOUSEKEEPING_TASK, queue=EVENTS_QUEUE, eta=eta,
                                   producer=producer)
        time.sleep(15)
        taken, held = resident_mb(pid), broker.hlen("unacked")
        time.sleep(140)  # two visibility timeouts and the restore interval
        later = resident_mb(pid)
        print(f"{SENT} housekeeping messages dated a day ahead (no key) -> worker resident "
              f"memory {idle} MB idle, {taken} MB once taken ({held} held unacknowledged), "
              f"{later} MB 2.5 minutes later (+{later - taken} MB of copies taken again after "
              f"the visibility timeout; about {(taken - idle) * 1024 // SENT} kB a message, "
              "again every minute until the eta)")
    finally:
        world.close()
        broker.flushdb()
    return 1 if later - idle > 20 else 0


if __name__ == "__main__":
    sys.exit(main())
