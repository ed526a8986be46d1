"""Sending signed messages to each node's own Celery queue and collecting the answers.

The coordinator never blocks on a node: it publishes, and reads answers from the result backend
when asked; a node that has not answered by the query's deadline is reported unreachable.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from celery import Celery
from kombu.exceptions import OperationalError

from contract.tasks import queue_name
from coordinator.errors import DispatchError

try:  # what the Redis result backend raises when the server is gone
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    _UNAVAILABLE: tuple[type[BaseException], ...] = (
        OperationalError, OSError, RedisConnectionError, RedisTimeoutError)
except ImportError:  # pragma: no cover - redis is a dependency
    _UNAVAILABLE = (OperationalError, OSError)
# a send also raises RuntimeError when the result store is gone
_SEND_FAILED: tuple[type[BaseException], ...] = (*_UNAVAILABLE, RuntimeError)



class Dispatcher:
    def __init__(self, broker: str, backend: str):
        self.app = Celery("safecity-coordinator", broker=broker, backend=backend)
        self.app.conf.update(
            task_serializer="json", result_serializer="json", accept_content=["json"],
            broker_connection_retry_on_startup=True, broker_connection_timeout=5,
            task_publish_retry=True,
            task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2,
                                       "interval_step": 0.5, "interval_max": 2},
            result_expires=timedelta(days=7),
            redis_socket_timeout=5, redis_socket_connect_timeout=5,
            result_backend_transport_options={"retry_policy": {
                "max_retries": 2, "interval_start": 0, "interval_step": 0.5,
                "interval_max": 1}},
        )

    def send(self, task: str, message: dict[str, Any], node_id: str, task_id: str) -> None:
        try:
            self.app.send_task(task, args=[message], queue=queue_name(node_id),
                               task_id=task_id)
        except _SEND_FAILED as exc:
            raise DispatchError(f"the broker is unavailable ({exc})") from None

    def enqueue(self, task: str, args: list[Any], queue: str) -> None:
        """Queue a task for the coordinator's own worker (a webhook or MQTT delivery)."""
        try:
            self.app.send_task(task, args=args, queue=queue)
        except _SEND_FAILED as exc:
            raise DispatchError(f"the broker is unavailable ({exc})") from None

    def answer(self, task_id: str) -> dict[str, Any] | None:
        """The node's answer if it has arrived, else None; never waits."""
        try:
            result = self.app.AsyncResult(task_id)
            state = result.state
            if state == "SUCCESS":
                value = result.result
                return value if isinstance(value, dict) else {"invalid": repr(value)[:200]}
            if state == "FAILURE":
                return {"failed": str(result.result)[:500]}
        except _UNAVAILABLE as exc:
            raise DispatchError(f"the result backend is unavailable ({exc})") from None
        return None

    def close(self) -> None:
        self.app.close()


TIMED_OUT: Final[dict[str, Any]] = {"timed_out": True}


def collect(dispatcher: Dispatcher, task_id: str, deadline: datetime, now: datetime
            ) -> dict[str, Any] | None:
    """A node's answer; None while it may still come (a result store that cannot be reached
    counts as no answer yet); ``TIMED_OUT`` once the deadline has passed without one."""
    try:
        answer = dispatcher.answer(task_id)
    except DispatchError:
        answer = None
    if answer is None and now >= deadline:
        return TIMED_OUT
    return answer
