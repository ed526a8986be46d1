"""Celery beat's scheduler, made to reconnect after a failed send.

Beat caches its broker connection and producer for its whole life
(``celery.beat.Scheduler.connection`` and ``.producer`` are cached properties). When one send
fails on a broken channel (the embedded SQLite broker's ``disk I/O error`` under load, a Redis
restart), every later send fails too ("channel disconnected") and the housekeeping jobs stop for
good while the process looks healthy. This scheduler forgets both after a failed send, so the
next tick opens a fresh connection; the failed entry runs at its next due time, as beat would
have it."""

from __future__ import annotations

import logging
from typing import Any

from celery.beat import PersistentScheduler, SchedulingError

log = logging.getLogger(__name__)
CACHED = ("producer", "connection")  # beat's cached properties, in the order they are dropped


class ReconnectingScheduler(PersistentScheduler):
    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True,
                    **kwargs: Any) -> Any:
        try:
            return super().apply_async(entry, producer, advance, **kwargs)
        except SchedulingError:
            self.forget_connection()
            raise

    def forget_connection(self) -> None:
        """Drop the cached producer and connection; the next send connects again."""
        for name in CACHED:
            cached = self.__dict__.pop(name, None)
            closing = getattr(cached, "release", None) if name == "connection" else None
            if closing is not None:
                try:
                    closing()
                except Exception as exc:  # a broken connection may fail to close: it is gone
                    log.debug("beat: closing the broken connection failed: %s", exc)
        log.warning("beat: a scheduled send failed; the next one connects to the broker again")
