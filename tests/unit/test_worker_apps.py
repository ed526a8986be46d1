"""A worker app's tasks are its own. Celery gives a task made with ``@app.task`` (shared, by
default) to every app created later in the same process, and the first app's task, with its
closure, takes the name: a test's worker would run the tasks of a worker an earlier test built,
against that test's closed coordinator (``test_clip_coordinator``'s witness test failed after
``test_mqtt_settings``'s worker). One app per process in production; many in the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from contract.tasks import HOUSEKEEPING_TASK, PIN_TASK
from coordinator.config import load_coordinator_settings
from coordinator.worker import worker_app
from nodes.inbox.worker import worker_app as node_worker_app
from tests.support.world import embedded_world


def opened(name: str) -> Callable[[], NoReturn]:
    """A service (or inbox) that says which app asked for it, by failing with its name."""
    def service() -> NoReturn:
        raise LookupError(name)
    return service


def test_each_coordinator_worker_runs_its_own_service(tmp_path: Path) -> None:
    settings = load_coordinator_settings(None, data_dir=tmp_path)
    first = worker_app(settings, opened("first"))
    assert HOUSEKEEPING_TASK in first.tasks  # finalized, as a test using it finalizes it
    second = worker_app(settings, opened("second"))
    with pytest.raises(LookupError, match=r"^second$"):
        second.tasks[HOUSEKEEPING_TASK].apply().get()
    with pytest.raises(LookupError, match=r"^first$"):
        first.tasks[HOUSEKEEPING_TASK].apply().get()


def test_each_node_worker_runs_its_own_inbox(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        settings = world.add_node("alpha", "site-a").settings
        first = node_worker_app(settings, opened("first"))
        assert PIN_TASK in first.tasks
        second = node_worker_app(settings, opened("second"))
        with pytest.raises(LookupError, match=r"^second$"):
            second.tasks[PIN_TASK].apply(args=[{}]).get()
    finally:
        world.close()
