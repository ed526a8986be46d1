"""The node's store of anonymous analytics events: type, rule, camera, zone or line, time,
counts, a scored rule's score and site-local tokens; never pixels, never poses, never
identities; and beside some events their evidence (``nodes.evidence``): a snapshot cut from the
frame after redaction, never from the raw one. It is also the outbox: an event
stays marked unsent until the broker has taken it, so a broker that is away loses nothing. Sent
events stay, and zone visits (never sent) are what the node answers planners' aggregate
questions from; all three are deleted at their camera's retention, with the raw video
(``nodes.retention``), an event or evidence still unsent then included. Evidence goes out
only after its event has (the coordinator binds it to the alert it finds)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nodes.local_db import expire, open_store

# the schema, one script per version (nodes.local_db); version 1 is the first schema, version 2
# adds the score of scored rules (weapon, aggression), version 3 the evidence of events
MIGRATIONS = ("""
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
    tokens TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (camera, time);
CREATE INDEX IF NOT EXISTS events_unsent ON events (sent, id);
CREATE TABLE IF NOT EXISTS visits (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    zone TEXT NOT NULL,
    entered TEXT NOT NULL,
    seconds REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS visits_by_time ON visits (camera, entered);
""", """
ALTER TABLE events ADD COLUMN score REAL;
""", """
CREATE TABLE IF NOT EXISTS evidence (
    seq INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    time TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    box TEXT,
    jpeg BLOB NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS evidence_unsent ON evidence (sent, seq);
""")


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
    seq: int = 0  # the store's row id once stored
    score: float | None = None  # scored rules (weapon, aggression): how sure, 0..1


@dataclass(frozen=True)
class StoredEvidence:
    """A redacted snapshot of the frame an event fired on, as a JPEG; ``box`` is the triggering
    object's (left, top, right, bottom) in the JPEG's pixels, drawn on it already."""

    seq: int  # the event's
    camera: str
    time: datetime
    width: int
    height: int
    box: tuple[int, int, int, int] | None
    jpeg: bytes


_SELECT = ("SELECT type, rule, camera, zone, line, direction, time, count, tokens, id, score "
           "FROM events")


def _event(row: tuple) -> StoredEvent:
    return StoredEvent(row[0], row[1], row[2], row[3], row[4], row[5],
                       datetime.fromisoformat(row[6]), row[7], tuple(json.loads(row[8])), row[9],
                       row[10])


class EventStore:
    def __init__(self, path: Path):
        self._db = open_store(path, MIGRATIONS, pragmas=("secure_delete=ON",))
        self._lock = threading.Lock()

    def add_many(self, events: Sequence[StoredEvent]) -> list[int]:
        """Store ``events``; their numbers (``seq``), in order."""
        if not events:
            return []
        with self._lock:
            self._db.execute("BEGIN")
            seqs = [int(self._db.execute(
                "INSERT INTO events (type, rule, camera, zone, line, direction, time, count, "
                "tokens, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (e.type, e.rule, e.camera, e.zone, e.line, e.direction, e.time.isoformat(),
                 e.count, json.dumps(list(e.tokens)), e.score)).lastrowid or 0) for e in events]
            self._db.execute("COMMIT")
        return seqs

    def add_evidence(self, evidence: StoredEvidence) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO evidence (seq, camera, time, width, height, box, jpeg) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (evidence.seq, evidence.camera, evidence.time.isoformat(), evidence.width,
                 evidence.height, json.dumps(list(evidence.box)) if evidence.box else None,
                 evidence.jpeg))

    def evidence(self, sent: bool | None = None, limit: int = 1_000_000
                 ) -> list[StoredEvidence]:
        """Stored evidence, oldest event first; with ``sent=False``, that not yet sent whose
        event has been (what the sender takes next)."""
        where = {None: "", True: " WHERE v.sent = 1",
                 False: " JOIN events e ON e.id = v.seq WHERE v.sent = 0 AND e.sent = 1"}[sent]
        with self._lock:
            rows = self._db.execute(
                "SELECT v.seq, v.camera, v.time, v.width, v.height, v.box, v.jpeg "
                f"FROM evidence v{where} ORDER BY v.seq LIMIT ?", (limit,)).fetchall()
        return [StoredEvidence(r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4],
                               tuple(json.loads(r[5])) if r[5] else None, bytes(r[6]))
                for r in rows]

    def mark_evidence_sent(self, seqs: Sequence[int]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE evidence SET sent = 1 WHERE seq = ?",
                                 [(s,) for s in seqs])
            self._db.execute("COMMIT")

    def all(self, camera: str | None = None) -> list[StoredEvent]:
        with self._lock:
            rows = (self._db.execute(_SELECT + " WHERE camera = ? ORDER BY id", (camera,))
                    if camera else self._db.execute(_SELECT + " ORDER BY id")).fetchall()
        return [_event(r) for r in rows]

    def unsent(self, limit: int) -> list[StoredEvent]:
        with self._lock:
            rows = self._db.execute(_SELECT + " WHERE sent = 0 ORDER BY id LIMIT ?",
                                    (limit,)).fetchall()
        return [_event(r) for r in rows]

    def mark_sent(self, seqs: Sequence[int]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE events SET sent = 1 WHERE id = ?", [(s,) for s in seqs])
            self._db.execute("COMMIT")

    def add_visits(self, camera: str, visits: Sequence[tuple[str, datetime, float]]) -> None:
        """Stays in zones: (zone, entered, seconds); no track, no token, nothing else."""
        if not visits:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO visits (camera, zone, entered, seconds) VALUES (?, ?, ?, ?)",
                [(camera, zone, entered.isoformat(), seconds)
                 for zone, entered, seconds in visits])
            self._db.execute("COMMIT")

    def visits(self, cameras: Sequence[str], start: datetime, end: datetime
               ) -> list[tuple[str, str, datetime, float]]:
        """(camera, zone, entered, seconds) of visits that began in [start, end)."""
        marks = ",".join("?" * len(cameras))
        with self._lock:
            rows = self._db.execute(
                f"SELECT camera, zone, entered, seconds FROM visits WHERE camera IN ({marks}) "
                "AND entered >= ? AND entered < ?",
                (*cameras, start.isoformat(), end.isoformat())).fetchall()
        return [(r[0], r[1], datetime.fromisoformat(r[2]), float(r[3])) for r in rows]

    def purge(self, cutoff: Callable[[str], datetime],
              announce: Callable[[dict[str, dict[str, int]]], None]) -> dict[str, int]:
        """Delete the events, their evidence and the visits older than ``cutoff(camera)``;
        ``announce`` is told how many first (``nodes.local_db.expire``). Returns how many of
        each were deleted."""
        with self._lock:
            return expire(self._db, {"events": "time", "evidence": "time", "visits": "entered"},
                          lambda camera: cutoff(camera).astimezone(UTC).isoformat(), announce)

    def close(self) -> None:
        self._db.close()
