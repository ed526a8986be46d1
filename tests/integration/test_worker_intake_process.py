"""A real `safecity coordinator worker` process takes from its queues only its own tasks, run
now (red team 3, December 2026): one ``celery.starmap`` message naming the housekeeping job
200 times, and a housekeeping message dated a day ahead, are refused without running anything
(the job's last run stays unrecorded), and an honest node's batch sent behind them is stored."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery import Celery
from sqlalchemy import func, select

from contract.tasks import EVENTS_QUEUE, EVENTS_TASK, HOUSEKEEPING_TASK
from coordinator.db import Alert, JobRun
from nodes.event_sender import celery_publisher, message
from nodes.events import StoredEvent
from nodes.identity import load_identity
from tests.support.world import World, embedded_world


def alerts(world: World) -> int:
    with world.svc.session() as session:
        return int(session.scalar(select(func.count()).select_from(Alert)) or 0)


def test_starmap_and_far_dated_messages_run_nothing(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        world.add_node("alpha", "site-a")
        world.start_coordinator_worker()
        attacker = Celery("anyone-on-the-broker", broker=world.broker)
        job = {"task": HOUSEKEEPING_TASK, "args": [], "kwargs": {}, "options": {},
               "subtask_type": None, "immutable": False}
        attacker.send_task("celery.starmap", args=[job, [[] for _ in range(200)]],
                           queue=EVENTS_QUEUE)
        attacker.send_task(HOUSEKEEPING_TASK, queue=EVENTS_QUEUE,
                           eta=datetime.now(UTC) + timedelta(days=1))
        key = load_identity(world.nodes["alpha"].settings.keys_dir).signing
        event = StoredEvent(type="restricted_area", rule="restricted_area-1", camera="gate",
                            zone="platform", line=None, direction=None,
                            time=datetime.now(UTC).replace(microsecond=0), count=1,
                            tokens=("0123456789abcdef",), seq=1)
        send, close = celery_publisher(world.broker, EVENTS_TASK, EVENTS_QUEUE)
        send(message([event], world.nodes["alpha"].node_id, "site-a", key))
        close()
        deadline = time.monotonic() + 90
        while alerts(world) == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        log = (tmp_path / "coordinator-worker.log").read_text(errors="replace")
        assert alerts(world) == 1, log
        with world.svc.session() as session:
            assert session.get(JobRun, HOUSEKEEPING_TASK) is None, log  # never ran
        assert "celery.starmap" in log and "refused: more than" in log, log
    finally:
        world.close()
