"""One small message runs a worker task hundreds of times: Celery's built-in tasks.

Every Celery app registers ``celery.starmap``, ``celery.map``, ``celery.chunks``,
``celery.group``, ``celery.chain``, ``celery.chord``, ``celery.chord_unlock``,
``celery.accumulate`` and ``celery.backend_cleanup``, whatever tasks it defines itself, and
the coordinator's worker runs any of them from its queues. ``celery.starmap(task, items)``
calls ``task(*item)`` for each item, in the worker, one after the other. So one message on the
events queue of about 3 bytes an item runs the housekeeping job (a whole verification of the
audit log, ``housekeeping_task_cpu.py``) that many times, or the device intake
(``device_task_forged_sos.py``) for a list of presses, while the worker (``--pool=solo``)
takes nothing else: no node's alert is stored until it is done.

A real ``safecity coordinator worker`` process on the embedded broker; the log is given a
history of ``HISTORY`` entries first; one ``celery.starmap`` message of ``RUNS`` empty items.
Measures the message's size, the worker's CPU seconds and how long an honest node's event
batch sent right after it waits.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/celery_starmap_amplifies.py
Exit 1 = the one message ran the job many times; 0 = it was refused.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from celery import Celery
from sqlalchemy import func, select

from audit.records import Action, Event, LegalBasis
from contract.tasks import EVENTS_QUEUE, EVENTS_TASK, HOUSEKEEPING_TASK
from coordinator.db import Alert
from nodes.event_sender import celery_publisher, message
from nodes.events import StoredEvent
from nodes.identity import load_identity
from tests.support.world import World, embedded_world

HISTORY = 1000
RUNS = 200


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet: float = 4.0, limit: float = 900.0) -> float:
    """Wait until the process has used (almost) no CPU for ``quiet`` seconds; its CPU then."""
    deadline, last, still = time.monotonic() + limit, cpu_seconds(pid), 0.0
    while time.monotonic() < deadline and still < quiet:
        time.sleep(1)
        now = cpu_seconds(pid)
        still = still + 1 if now - last < 0.05 else 0.0
        last = now
    return last


def alerts(world: World) -> int:
    with world.svc.session() as session:
        return int(session.scalar(select(func.count()).select_from(Alert)) or 0)


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-starmap-")))
    try:
        world.add_node("alpha", "site-a")
        actor = world.svc.actor("coordinator", "system", "city")
        for i in range(HISTORY):
            world.svc.log(Event(actor=actor, action=Action.ACCESS_DENIED,
                                legal_basis=LegalBasis.NONE, outcome=f"history-{i}"))
        world.start_coordinator_worker()
        assert world.coordinator_worker is not None
        pid = world.coordinator_worker.pid
        time.sleep(8)
        idle = settle(pid)
        attacker = Celery("anyone-on-the-broker", broker=world.broker)
        task = {"task": HOUSEKEEPING_TASK, "args": [], "kwargs": {}, "options": {},
                "subtask_type": None, "immutable": False}
        items: list[list[object]] = [[] for _ in range(RUNS)]
        size = len(json.dumps([task, items]))
        started = time.monotonic()
        attacker.send_task("celery.starmap", args=[task, items], queue=EVENTS_QUEUE)
        key = load_identity(world.nodes["alpha"].settings.keys_dir).signing
        event = StoredEvent(type="restricted_area", rule="restricted_area-1", camera="gate",
                            zone="platform", line=None, direction=None,
                            time=datetime.now(UTC).replace(microsecond=0), count=1,
                            tokens=("0123456789abcdef",), seq=1)
        send, close = celery_publisher(world.broker, EVENTS_TASK, EVENTS_QUEUE)
        send(message([event], world.nodes["alpha"].node_id, "site-a", key))
        close()
        while alerts(world) == 0 and time.monotonic() - started < 900:
            time.sleep(0.5)
        waited = time.monotonic() - started
        spent = settle(pid) - idle
        print(f"one celery.starmap message of {size} bytes ({RUNS} runs of housekeeping, no "
              f"key), log of {world.svc.audit.size()} entries -> worker CPU {spent:.1f} s; an "
              f"honest alert sent right after it was stored {waited:.1f} s later")
    finally:
        world.close()
    return 1 if spent > 5 else 0


if __name__ == "__main__":
    sys.exit(main())
