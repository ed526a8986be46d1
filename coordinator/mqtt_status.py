"""``coordinator worker``'s connection to the MQTT broker, written to the database for the
control room (``coordinator.services.delivery_status`` reads it in the web app's process): its
state (connected, unreachable, refused, credentials refused, password file unreadable), since
when, and whether it listens to the city's devices, written at each change and every
``mqtt.report_seconds`` (the heartbeat: a report older than three intervals is not believed).
A worker that stops cleanly removes its row; one killed leaves it, and it goes stale.

Nothing of the error is written, only its kind: no password, no file path."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete

from coordinator.db import MqttConnection
from coordinator.mqtt import Publisher
from coordinator.service import Coordinator

log = logging.getLogger(__name__)
FORGOTTEN = timedelta(days=1)  # a report this old (a worker killed long ago) is removed


def worker_name() -> str:
    """This worker process, among the city's: its host and process id."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


class ConnectionReport:
    """A thread of the worker writing ``publisher``'s state (``MqttConnection``): at once when
    it changes, else every ``every`` seconds. A database away is logged once, and the
    report written when it returns."""

    def __init__(self, publisher: Publisher, service: Callable[[], Coordinator],
                 every: float, worker: str | None = None) -> None:
        self.publisher, self.service, self.every = publisher, service, every
        self.worker = worker or worker_name()
        self._stopping = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="mqtt-connection-report",
                                        daemon=True)

    def start(self) -> ConnectionReport:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reporting and remove this worker's row: it no longer claims a connection."""
        self._stopping.set()
        self.publisher.changes.set()
        self._thread.join(timeout=10)
        try:
            with self.service().session() as session:
                session.execute(delete(MqttConnection)
                                .where(MqttConnection.worker == self.worker))
        except Exception:  # stopping regardless: the row goes stale
            log.warning("the MQTT connection report of %s could not be removed", self.worker,
                        exc_info=True)

    def report(self) -> None:
        """Write the connection's state now."""
        publisher = self.publisher
        state, since = publisher.state_now()
        svc = self.service()
        now = svc.clock()
        with svc.session() as session:
            row = session.get(MqttConnection, self.worker)
            if row is None:
                row = MqttConnection(worker=self.worker)
                session.add(row)
            row.broker, row.listening = publisher.where[:300], publisher.listening
            row.state, row.since, row.reported_at = state, since, now
            session.execute(delete(MqttConnection)
                            .where(MqttConnection.reported_at < now - FORGOTTEN))

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.publisher.changes.clear()
            try:
                self.report()
                if self._failing:
                    log.warning("the MQTT connection is reported again")
                self._failing = False
            except Exception:  # in a thread of its own: logged once, tried again
                if not self._failing:
                    log.warning("the MQTT connection cannot be reported to the database; "
                                "tried again every %g s", self.every, exc_info=True)
                self._failing = True
            self.publisher.changes.wait(self.every)
