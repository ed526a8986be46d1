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
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nodes.local_db import expire, open_store

# the schema, one script per version (nodes.local_db); version 1 is the first schema, version 2
# adds the score of scored rules (weapon, aggression), version 3 the evidence of events, version 4
# their clips (``nodes.evidence_clip``), the clip requests answered and the answers not yet sent.
# Version 5 numbers events with AUTOINCREMENT (rebuilt table): a plain INTEGER PRIMARY KEY reused
# the numbers of the newest events once the retention purge deleted them, and the coordinator,
# which knows an event by (node, number), dropped the new alerts as resends and could be sent
# another event's clip. Its high-water mark starts at the highest number the store still shows
# (events, evidence, clip frames): numbers purged before the upgrade and above all of those can
# be used once more, the residue the upgrade cannot see. It also keeps each unsent clip answer's
# oldest frame time (``oldest``; the queue time for a refusal, and for rows queued before it), the
# time its purge and its sending go by.
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
""", """
CREATE TABLE IF NOT EXISTS clip_frames (
    seq INTEGER NOT NULL,
    video_frame INTEGER NOT NULL,
    camera TEXT NOT NULL,
    time TEXT NOT NULL,
    event_frame INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    box TEXT,
    jpeg BLOB NOT NULL,
    PRIMARY KEY (seq, video_frame)
);
CREATE TABLE IF NOT EXISTS clip_answers (
    request_id TEXT PRIMARY KEY,
    camera TEXT NOT NULL,
    answered TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clip_outbox (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    queued TEXT NOT NULL,
    body TEXT NOT NULL
);
""", """
CREATE TABLE events_numbered (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    rule TEXT NOT NULL,
    camera TEXT NOT NULL,
    zone TEXT,
    line TEXT,
    direction TEXT,
    time TEXT NOT NULL,
    count INTEGER NOT NULL,
    tokens TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    score REAL
);
INSERT INTO events_numbered (id, type, rule, camera, zone, line, direction, time, count, tokens,
                             sent, score)
    SELECT id, type, rule, camera, zone, line, direction, time, count, tokens, sent, score
    FROM events;
DROP TABLE events;
ALTER TABLE events_numbered RENAME TO events;
CREATE INDEX IF NOT EXISTS events_by_time ON events (camera, time);
CREATE INDEX IF NOT EXISTS events_unsent ON events (sent, id);
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'events', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events');
UPDATE sqlite_sequence SET seq = MAX(seq,
    (SELECT COALESCE(MAX(seq), 0) FROM evidence),
    (SELECT COALESCE(MAX(seq), 0) FROM clip_frames)) WHERE name = 'events';
ALTER TABLE clip_outbox ADD COLUMN oldest TEXT;
UPDATE clip_outbox SET oldest = queued;
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


@dataclass(frozen=True)
class ClipFrame:
    """One redacted picture of an event's clip, as a JPEG (``box``: in its pixels, drawn)."""

    index: int  # the frame's number in the camera's stream
    time: datetime
    jpeg: bytes
    width: int
    height: int
    box: tuple[int, int, int, int] | None  # on the event's frame only
    event_frame: bool = False  # the frame the event was raised on (or its stand-in)


@dataclass(frozen=True)
class Clip:
    seq: int  # the event's
    camera: str
    frames: tuple[ClipFrame, ...]


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


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

    def add_clip(self, clip: Clip) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO clip_frames (seq, video_frame, camera, time, "
                "event_frame, width, height, box, jpeg) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(clip.seq, f.index, clip.camera, _utc_text(f.time), int(f.event_frame),
                  f.width, f.height, json.dumps(list(f.box)) if f.box else None, f.jpeg)
                 for f in clip.frames])
            self._db.execute("COMMIT")

    def clip(self, seq: int, camera: str) -> Clip | None:
        """The clip of event ``seq`` of ``camera``, its frames in stream order; None if none."""
        with self._lock:
            rows = self._db.execute(
                "SELECT video_frame, time, jpeg, width, height, box, event_frame "
                "FROM clip_frames WHERE seq = ? AND camera = ? ORDER BY video_frame",
                (seq, camera)).fetchall()
        if not rows:
            return None
        return Clip(seq, camera, tuple(
            ClipFrame(r[0], datetime.fromisoformat(r[1]), bytes(r[2]), r[3], r[4],
                      tuple(json.loads(r[5])) if r[5] else None, bool(r[6])) for r in rows))

    def event(self, seq: int) -> StoredEvent | None:
        with self._lock:
            row = self._db.execute(_SELECT + " WHERE id = ?", (seq,)).fetchone()
        return _event(row) if row else None

    def clip_answer(self, request_id: str) -> str | None:
        """How a clip request was answered (its outcome), if it was."""
        with self._lock:
            row = self._db.execute("SELECT outcome FROM clip_answers WHERE request_id = ?",
                                   (request_id,)).fetchone()
        return row[0] if row else None

    def queue_clip_answer(self, request_id: str | None, camera: str, outcome: str,
                          bodies: Sequence[dict[str, Any]], now: datetime, oldest: datetime,
                          log: Callable[[], object]) -> bool:
        """Claim ``request_id`` (when given: a request answered once), write the node's audit
        entry (``log``) and queue the messages answering it, in one transaction: a twin delivery
        waits for the claim and finds it taken, so one answer is logged and queued, never two.
        False (nothing logged, nothing queued) when it was answered already; if ``log`` fails,
        nothing is claimed or queued. ``oldest``: the oldest frame's time (``now`` for a
        refusal), which the answer is purged by and never sent past."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if request_id is not None:
                    self._db.execute("INSERT INTO clip_answers (request_id, camera, answered, "
                                     "outcome) VALUES (?, ?, ?, ?)",
                                     (request_id, camera, _utc_text(now), outcome))
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                return False
            try:
                log()
                self._db.executemany(
                    "INSERT INTO clip_outbox (camera, queued, oldest, body) VALUES (?, ?, ?, ?)",
                    [(camera, _utc_text(now), _utc_text(oldest), json.dumps(body))
                     for body in bodies])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return True

    def clip_outbox(self, limit: int) -> list[tuple[int, datetime, dict[str, Any]]]:
        """Clip answers not yet sent, oldest first: (their number, their oldest frame's time,
        the message)."""
        with self._lock:
            rows = self._db.execute("SELECT id, oldest, body FROM clip_outbox ORDER BY id "
                                    "LIMIT ?", (limit,)).fetchall()
        return [(r[0], datetime.fromisoformat(r[1]), json.loads(r[2])) for r in rows]

    def clip_sent(self, number: int) -> None:
        """Sent: its pictures are not kept twice (the clip's frames stay, for their hours)."""
        with self._lock:
            self._db.execute("DELETE FROM clip_outbox WHERE id = ?", (number,))

    def purge_clips(self, cutoff: datetime,
                    announce: Callable[[dict[str, dict[str, int]]], None]) -> dict[str, int]:
        """Delete the clip frames, answers and unsent answers older than ``cutoff``
        (``evidence_clip_hours`` ago; an unsent answer by its oldest frame's time, so no
        picture outlives its clip); ``announce`` is told how many first."""
        with self._lock:
            return expire(self._db, {"clip_frames": "time", "clip_outbox": "oldest",
                                     "clip_answers": "answered"},
                          lambda camera: _utc_text(cutoff), announce)

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
