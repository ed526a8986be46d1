"""The node's Celery app: its own queue, late acknowledgement, one message at a time.

Messages are acknowledged only after the answer is stored (``acks_late``), and a redelivered
message gets the stored answer again, so a broker or worker that stops mid-message loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from celery import Celery

from contract.tasks import (
    AGGREGATE_TASK,
    CLIP_REQUEST_TASK,
    MODEL_TASK,
    PIN_TASK,
    QUERY_TASK,
    REVOCATION_TASK,
)
from kernel.errors import ConfigError
from kernel.worker_intake import bound_tasks, own_tasks_only
from nodes import city_ca
from nodes.config import NodeSettings
from nodes.inbox import Inbox

log = logging.getLogger(__name__)


class Handler(Protocol):
    def answer(self, message: Any) -> dict[str, Any]: ...


# The coordinator dates none of its messages to a node ahead; a minute's margin (red team 3: a
# message dated a day ahead was held in the worker's memory, and on Redis copied every minute).
ETA_LIMIT_SECONDS = 60

# which handler of the inbox takes each task's messages
HANDLERS: dict[str, Callable[[Inbox], Handler]] = {
    QUERY_TASK: lambda inbox: inbox.queries,
    AGGREGATE_TASK: lambda inbox: inbox.aggregates,
    REVOCATION_TASK: lambda inbox: inbox.revocations,
    MODEL_TASK: lambda inbox: inbox.models,
    PIN_TASK: lambda inbox: inbox.pin_updates,
    CLIP_REQUEST_TASK: lambda inbox: inbox.clips,
}


def worker_app(settings: NodeSettings, inbox: Callable[[], Inbox]) -> Celery:
    broker, backend = city_ca.broker_url(settings), city_ca.result_backend(settings)
    if not broker or not backend:
        raise ConfigError("set broker_url and result_backend in the node config to take queries")
    app = Celery("safecity-node", broker=broker, backend=backend)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        result_expires=timedelta(days=7),
    )
    if broker.startswith(("redis", "rediss", "sqs")):  # brokers without AMQP acks
        app.conf.broker_transport_options = {
            "visibility_timeout": settings.redelivery_seconds,
            # sweep for abandoned messages at the same pace (kombu's default sweeps every 100 s)
            "unacked_restore_interval": max(1, min(10, settings.redelivery_seconds)),
            "unacked_restore_throttle": 1,
        }
    for name, handler in HANDLERS.items():
        _register(app, name, inbox, handler)
    # Celery's built-in tasks out (celery.starmap runs a task once an item); messages for an
    # unknown task or dated far ahead refused, and logged (kernel.worker_intake)
    own_tasks_only(app, lambda name: log.warning("message for unknown task %r refused", name))
    bound_tasks(app, ETA_LIMIT_SECONDS, lambda name: None)  # the strategy logs each
    return app


def _register(app: Celery, name: str, inbox: Callable[[], Inbox],
              handler: Callable[[Inbox], Handler]) -> None:
    # not shared (Celery's default): a node app made later in the process would get this
    # app's task, with its ``inbox``, under the name (coordinator.worker says the same)
    @app.task(shared=False, name=name)
    def task(message: dict[str, Any]) -> dict[str, Any]:
        opened = inbox()
        opened.refresh()  # a pin update another process applied counts from now on
        return handler(opened).answer(message)
