"""The node's store of anonymous analytics events: type, rule, camera, zone or line, time,
counts and site-local tokens; never pixels, never identities."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nodes.local_db import open_store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    rule TEXT NOT NULL,
    camera TEXT NOT NULL,
    zone TEXT,
    line TEXT,
    direction TEXT,
    time TEXT NOT NULL,
    count INTEGER NOT NULL,
    tokens TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (camera, time);
"""


@dataclass(frozen=True)
class StoredEvent:
    type: str
    rule: str
    camera: str
    zone: str | None
    line: str | None
    direction: str | None
    time: datetime
    count: int
    tokens: tuple[str, ...]


class EventStore:
    def __init__(self, path: Path):
        self._db = open_store(path, _SCHEMA)
        self._lock = threading.Lock()

    def add_many(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO events (type, rule, camera, zone, line, direction, time, count, "
                "tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(e.type, e.rule, e.camera, e.zone, e.line, e.direction, e.time.isoformat(),
                  e.count, json.dumps(list(e.tokens))) for e in events])
            self._db.execute("COMMIT")

    def all(self, camera: str | None = None) -> list[StoredEvent]:
        query = "SELECT type, rule, camera, zone, line, direction, time, count, tokens FROM events"
        with self._lock:
            rows = (self._db.execute(query + " WHERE camera = ? ORDER BY id", (camera,))
                    if camera else self._db.execute(query + " ORDER BY id")).fetchall()
        return [StoredEvent(r[0], r[1], r[2], r[3], r[4], r[5], datetime.fromisoformat(r[6]),
                            r[7], tuple(json.loads(r[8]))) for r in rows]

    def close(self) -> None:
        self._db.close()
