"""What the worker apps take off the broker (red team 3, December 2026): their own tasks only
(Celery's built-in ``celery.starmap`` ran housekeeping once an item of one message), nothing
dated further ahead than the worker's own longest retry delay (such messages were held in
memory, and on Redis copied every minute), and the housekeeping job at most once per
``housekeeping_seconds`` however often it is queued (each run verifies the whole log)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from contract.tasks import HOUSEKEEPING_TASK
from coordinator.db import JobRun
from coordinator.housekeeping import housekeeping
from coordinator.service import as_utc
from coordinator.worker import ETA_LIMIT_SECONDS, MQTT_BACKOFF_CAP_SECONDS, worker_app
from kernel.worker_intake import too_far
from nodes.inbox.worker import worker_app as node_worker_app
from tests.support.world import T0, embedded_world

BUILTINS = ("celery.starmap", "celery.map", "celery.chunks", "celery.group", "celery.chain",
            "celery.chord", "celery.chord_unlock", "celery.accumulate", "celery.backend_cleanup")


def test_the_worker_apps_hold_none_of_celerys_built_in_tasks(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        node = world.add_node("alpha", "site-a")
        for app in (worker_app(world.settings, lambda: world.svc),
                    node_worker_app(node.settings, lambda: None)):  # type: ignore[arg-type,return-value]
            assert not [name for name in app.tasks if name.startswith("celery.")]
            assert not set(BUILTINS) & set(app.tasks)
            assert all(not isinstance(task.Strategy, str) for task in app.tasks.values())
    finally:
        world.close()


def test_a_message_dated_past_the_longest_retry_delay_is_refused() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert ETA_LIMIT_SECONDS > MQTT_BACKOFF_CAP_SECONDS  # the worker's own retries pass
    for ahead, refused in ((None, False), (0, False), (MQTT_BACKOFF_CAP_SECONDS, False),
                           (ETA_LIMIT_SECONDS + 1, True), (86400, True), (-3600, False)):
        eta = None if ahead is None else (now + timedelta(seconds=ahead)).isoformat()
        assert too_far(eta, ETA_LIMIT_SECONDS, now) is refused, ahead
    naive = (now + timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert too_far(naive, ETA_LIMIT_SECONDS, now)
    assert too_far("not a time", ETA_LIMIT_SECONDS, now)


def test_housekeeping_runs_at_most_once_per_interval_however_often_queued(
        tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        app = worker_app(world.settings, lambda: world.svc)
        task = app.tasks[HOUSEKEEPING_TASK]
        world.set_time(T0)  # the clock starts where the moves below count from
        assert "expired_warrants" in task.apply().get()  # the first run
        size = world.svc.audit.size()
        for _ in range(5):  # queued again at once: nothing done
            assert "skipped" in task.apply().get()
        world.set_time(T0 + timedelta(seconds=world.settings.housekeeping_seconds // 2))
        assert "skipped" in task.apply().get()
        # beat's next message, an interval later (a tenth early still counts), runs it
        world.set_time(T0 + timedelta(seconds=world.settings.housekeeping_seconds * 0.95))
        assert "expired_warrants" in task.apply().get()
        assert "skipped" in task.apply().get()
        with world.svc.session() as session:
            started = session.get_one(JobRun, HOUSEKEEPING_TASK).started_at
        assert as_utc(started) == world.svc.clock()
        assert world.svc.audit.size() >= size
        # called directly (the CLI, the tests) it runs every time, as before
        assert "expired_warrants" in housekeeping(world.svc)
    finally:
        world.close()
