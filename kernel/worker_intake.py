"""What a Celery worker app takes off the broker: its own tasks only, run now or soon.

Anyone who can write to a worker's queue can name any task the app has registered and date the
message ahead (red team 3, December 2026). Two controls, for the coordinator's and the nodes'
worker apps alike:

* ``own_tasks_only``: Celery registers its built-in tasks (``celery.starmap``, ``celery.map``,
  ``celery.chunks``, ``celery.group``, ``celery.chain``, ``celery.chord``,
  ``celery.chord_unlock``, ``celery.accumulate``, ``celery.backend_cleanup``) in every app when
  it is finalized; ``celery.starmap`` runs a task once per item, so one message ran housekeeping
  200 times. They are taken out after finalizing, so such a message is an unknown task, which
  the worker rejects without running anything.
* ``bounded_strategy``: the task's ``Strategy`` (Celery's hook between a message taken and its
  request; the default is ``celery.worker.strategy:default``), wrapped: a message whose ``eta``
  (a ``countdown`` is sent as an ``eta``) is further ahead than ``limit`` seconds, or does not
  parse, is acknowledged and dropped before the worker holds it (it would be held in memory,
  unacknowledged, and on Redis restored and taken again every visibility timeout).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from celery.signals import task_unknown
from celery.worker.strategy import default

log = logging.getLogger(__name__)


def own_tasks_only(app: Celery, on_unknown: Callable[[str], None] | None = None) -> Celery:
    """Finalize ``app`` and take Celery's built-in tasks (``celery.*``) out of it; with
    ``on_unknown``, it is called with the task name of each message for a task the app does not
    have (the worker itself rejects those). Returns the app."""
    app.finalize(auto=True)
    for name in [name for name in app.tasks if name.startswith("celery.")]:
        app.tasks.unregister(name)
    if on_unknown is not None:
        def counted(sender: Any = None, name: str = "", **_: Any) -> None:
            if getattr(sender, "app", None) is app:
                on_unknown(str(name)[:200])
        task_unknown.connect(counted, weak=False, dispatch_uid=f"own-tasks-{id(app)}")
    return app


def eta_of(message: Any) -> Any:
    """The ``eta`` a task message carries (protocol 2: a header; protocol 1: the body)."""
    headers = message.headers or {}
    if "eta" in headers:
        return headers["eta"]
    try:
        payload = message.payload
    except Exception:  # undecodable: the default strategy reports it
        return None
    return payload.get("eta") if isinstance(payload, dict) else None


def too_far(eta: Any, limit: float, now: datetime | None = None) -> bool:
    """Whether an ``eta`` is more than ``limit`` seconds ahead, or is not a time at all."""
    if eta is None:
        return False
    try:
        when = datetime.fromisoformat(str(eta))
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # Celery's own messages are UTC (enable_utc)
    return (when - (now or datetime.now(UTC))).total_seconds() > limit


def bounded_strategy(limit: float, on_refused: Callable[[str], None]) -> Callable[..., Any]:
    """A ``Task.Strategy``: Celery's default one, except that a message dated more than
    ``limit`` seconds ahead is acknowledged and dropped, ``on_refused(task name)`` called."""

    def strategy(task: Any, app: Any, consumer: Any, **options: Any) -> Callable[..., Any]:
        handle = default(task, app, consumer, **options)

        def guarded(message: Any, body: Any, ack: Any, reject: Any, callbacks: Any,
                    **more: Any) -> Any:
            eta = eta_of(message)
            if too_far(eta, limit):
                log.warning("message for %s dated %.40s refused: more than %d s ahead",
                            task.name, str(eta), limit)
                message.ack()
                on_refused(task.name)
                return None
            return handle(message, body, ack, reject, callbacks, **more)

        return guarded

    return strategy


def bound_tasks(app: Celery, limit: float, on_refused: Callable[[str], None]) -> None:
    """Give each of the app's tasks the ``bounded_strategy``."""
    strategy = bounded_strategy(limit, on_refused)
    for task in app.tasks.values():
        task.Strategy = strategy
