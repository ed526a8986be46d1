"""Seconds of the worker's CPU per small message: the housekeeping task.

``safecity.coordinator.housekeeping`` is meant to come from ``coordinator beat`` once every
``housekeeping_seconds``, but it is an ordinary task on the events queue and the worker takes
it from anyone who can write to the broker, with no signature, as often as it is sent. Each run
reads the whole audit log and verifies it (every entry, every checkpoint's signature:
``coordinator.web.published.publish``), asks the witnesses to cosign, and rewrites the public
report: work that grows with the log. The worker runs one task at a time (``--pool=solo``),
so while it does this no node's alerts are taken in.

A real ``safecity coordinator worker`` process on the embedded broker; the city's log is given
a history of ``HISTORY`` entries first (a city's year holds many more); then ``SENT``
housekeeping messages of a few hundred bytes each are put on the events queue. Measures the
worker's CPU seconds (``/proc/<pid>/stat``) per message, and how long an honest node's event
batch sent right after them waits.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/housekeeping_task_cpu.py
Exit 1 = the worker ran the unsigned housekeeping messages (each costs a log verification);
0 = it refused or ignored them.
"""

from __future__ import annotations

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

HISTORY = 3000
SENT = 20


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children that were waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet: float = 4.0, limit: float = 600.0) -> float:
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
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-housekeeping-")))
    try:
        world.add_node("alpha", "site-a")
        actor = world.svc.actor("coordinator", "system", "city")
        for i in range(HISTORY):  # the city's history: any entries do
            world.svc.log(Event(actor=actor, action=Action.ACCESS_DENIED,
                                legal_basis=LegalBasis.NONE, outcome=f"history-{i}"))
        world.start_coordinator_worker()
        assert world.coordinator_worker is not None
        pid = world.coordinator_worker.pid
        time.sleep(8)
        idle = settle(pid)
        entries = world.svc.audit.size()
        attacker = Celery("anyone-on-the-broker", broker=world.broker)
        started = time.monotonic()
        for _ in range(SENT):
            attacker.send_task(HOUSEKEEPING_TASK, queue=EVENTS_QUEUE)
        # an honest node's event batch, right behind them
        key = load_identity(world.nodes["alpha"].settings.keys_dir).signing
        event = StoredEvent(type="restricted_area", rule="restricted_area-1", camera="gate",
                            zone="platform", line=None, direction=None,
                            time=datetime.now(UTC).replace(microsecond=0), count=1,
                            tokens=("0123456789abcdef",), seq=1)
        send, close = celery_publisher(world.broker, EVENTS_TASK, EVENTS_QUEUE)
        send(message([event], world.nodes["alpha"].node_id, "site-a", key))
        close()
        while alerts(world) == 0 and time.monotonic() - started < 600:
            time.sleep(0.5)
        waited = time.monotonic() - started
        spent = settle(pid) - idle
        print(f"log of {entries} entries; {SENT} unsigned housekeeping messages -> worker CPU "
              f"{spent:.1f} s ({spent / SENT:.2f} s per message, "
              f"{1000 * spent / SENT / entries:.2f} ms per log entry per message); an honest "
              f"alert sent after them was stored {waited:.1f} s later; audit entries added "
              f"{world.svc.audit.size() - entries}")
    finally:
        world.close()
    return 1 if spent / SENT > 0.5 else 0


if __name__ == "__main__":
    sys.exit(main())
