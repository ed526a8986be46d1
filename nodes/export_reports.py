"""The node's outbox of evidence-export reports for the city's audit log.

A report is stored before the export file is written and stays unsent until the broker has
taken it, so a coordinator or broker that is away loses nothing: the next export, or
``safecity vault send-reports``, sends what is waiting. The coordinator records each export
once by its id, so a report sent twice (marked sent after a crash) is not logged twice.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.exports import ExportReport, SignedExportReport
from contract.tasks import EVENTS_QUEUE, EXPORT_REPORT_TASK
from nodes import city_ca
from nodes.config import NodeSettings
from nodes.event_sender import Publish, celery_publisher
from nodes.local_db import open_store
from privacy.signing import SigningKey

log = logging.getLogger(__name__)

# the schema, one script per version (nodes.local_db); version 1 is the first schema
MIGRATIONS = ("""
CREATE TABLE IF NOT EXISTS reports (
    export_id TEXT PRIMARY KEY,
    message TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0
);
""",)


class ExportOutbox:
    def __init__(self, path: Path):
        self._db = open_store(path, MIGRATIONS)
        self._lock = threading.Lock()

    def add(self, report: ExportReport, key: SigningKey) -> None:
        """Sign the report with the node's enrolled key and keep it until it is sent."""
        signed = SignedExportReport(report=report, signature=report.sign(key))
        with self._lock:
            self._db.execute("INSERT INTO reports (export_id, message) VALUES (?, ?)",
                             (report.export_id, signed.model_dump_json()))

    def unsent(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT export_id, message FROM reports WHERE sent = 0 ORDER BY rowid").fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]

    def send_pending(self, publish: Publish) -> int:
        """Send every unsent report, oldest first; raise (keeping the rest) if the broker fails."""
        sent = 0
        for export_id, message in self.unsent():
            publish(message)
            with self._lock:
                self._db.execute("UPDATE reports SET sent = 1 WHERE export_id = ?", (export_id,))
            sent += 1
        return sent

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True)
class Sent:
    sent: int
    waiting: int
    problem: str | None = None  # why the waiting ones were not sent


def send_reports(settings: NodeSettings) -> Sent:
    """Send the waiting reports to the coordinator's queue through the node's broker."""
    outbox = ExportOutbox(settings.stores.export_reports)
    try:
        before = len(outbox.unsent())
        if not before:
            return Sent(0, 0)
        url = city_ca.broker_url(settings)
        if url is None:
            return Sent(0, before, "the node's config names no broker_url")
        publish, close = celery_publisher(url, EXPORT_REPORT_TASK, EVENTS_QUEUE)
        try:
            outbox.send_pending(publish)
            problem = None
        except Exception as exc:  # the broker's many failure types: keep them and say so
            problem = f"the broker did not take them ({type(exc).__name__})"
            log.warning("export reports kept for later: %s", problem)
        finally:
            close()
        waiting = len(outbox.unsent())
        return Sent(before - waiting, waiting, problem)
    finally:
        outbox.close()
