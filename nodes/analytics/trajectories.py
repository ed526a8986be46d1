"""Anonymous trajectories: how each tracked person moved, kept at the node for a short while so
the site can train the unusual-behaviour model on its own footage (federated, with DP-SGD), and
never sent anywhere.

A trajectory is the foot position of one track at ``SAMPLE_HZ``, in frame widths, with times
counted from the track's start. It keeps the camera, the kind and the hour it ended; no track
id, no token, no appearance, no pixels. Trajectories older than the node's
``trajectory_retention_days`` are deleted.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from nodes.analytics.rules import TrackBox
from nodes.local_db import open_store
from privacy.learning.movement import MIN_SECONDS, SAMPLE_HZ

# the schema, one script per version (nodes.local_db); version 1 is the first schema
MIGRATIONS = ("""
CREATE TABLE IF NOT EXISTS trajectories (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    kind TEXT NOT NULL,
    hour TEXT NOT NULL,
    points TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trajectories_by_hour ON trajectories (hour);
""",)
_DIGITS = 4  # 1/10,000 of a frame width: finer than any tracker


@dataclass
class _Path:
    kind: str
    started: float
    points: list[tuple[float, float, float]] = field(default_factory=list)


class PathRecorder:
    """Follows the tracks of one camera and hands back each one's trajectory when it ends."""

    def __init__(self, aspect: float):
        self.aspect = aspect  # width / height: y in frame widths is y_relative / aspect
        self._paths: dict[int, _Path] = {}

    def update(self, now: float, boxes: list[TrackBox]) -> None:
        for box in boxes:
            path = self._paths.setdefault(box.track_id, _Path(box.kind, now))
            path.kind = box.kind  # the tracker votes a track's kind as it goes
            if path.points and now - path.started - path.points[-1][0] < 1 / SAMPLE_HZ - 1e-6:
                continue
            foot_x, foot_y = box.foot
            path.points.append((now - path.started, foot_x, foot_y / self.aspect))

    def live(self, track_id: int) -> np.ndarray | None:
        path = self._paths.get(track_id)
        return np.asarray(path.points) if path and len(path.points) >= 2 else None

    def kind(self, track_id: int) -> str | None:
        path = self._paths.get(track_id)
        return path.kind if path else None

    def ended(self, current: set[int]) -> list[tuple[str, np.ndarray]]:
        """(kind, trajectory) of every followed track not in ``current``, now forgotten."""
        gone = [t for t in self._paths if t not in current]
        return [self._finished(self._paths.pop(t)) for t in gone]

    def flush(self) -> list[tuple[str, np.ndarray]]:
        return self.ended(set())

    @staticmethod
    def _finished(path: _Path) -> tuple[str, np.ndarray]:
        return path.kind, np.asarray(path.points, dtype=np.float64).reshape(-1, 3)


def _hour(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0).isoformat()


def long_enough(points: np.ndarray) -> bool:
    return len(points) >= 2 and float(points[-1, 0] - points[0, 0]) >= MIN_SECONDS


class TrajectoryStore:
    def __init__(self, path: Path, retention_days: int):
        self._db = open_store(path, MIGRATIONS)
        self._lock = threading.Lock()
        self.retention = timedelta(days=retention_days)
        self._purged: datetime | None = None  # a running node deletes the expired hourly

    def add(self, camera: str, kind: str, ended: datetime, points: np.ndarray) -> bool:
        """Keep a finished track's trajectory (if it is long enough to say anything)."""
        return self.add_many(camera, ended, [(kind, points)]) == 1

    def add_many(self, camera: str, ended: datetime,
                 trajectories: list[tuple[str, np.ndarray]]) -> int:
        """Keep the long enough ones, in one transaction; how many were kept."""
        now = datetime.now(UTC)
        if self._purged is None or now - self._purged > timedelta(hours=1):
            self.purge(now)
        hour = _hour(ended)
        rows = [(camera, kind, hour,
                 json.dumps(np.round(np.asarray(points, dtype=np.float64), _DIGITS).tolist()))
                for kind, points in trajectories if long_enough(points)]
        if rows:
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO trajectories (camera, kind, hour, points) "
                                     "VALUES (?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
        return len(rows)

    def load(self, kind: str = "person", now: datetime | None = None) -> list[np.ndarray]:
        """The kept trajectories of ``kind`` still inside the retention period, oldest first."""
        since_hour = _hour((now or datetime.now(UTC)) - self.retention)
        with self._lock:
            rows = self._db.execute("SELECT points FROM trajectories WHERE kind = ? AND "
                                    "hour >= ? ORDER BY id", (kind, since_hour)).fetchall()
        return [np.asarray(json.loads(r[0]), dtype=np.float64).reshape(-1, 3) for r in rows]

    def purge(self, now: datetime | None = None) -> int:
        """Delete what is past the retention period; how many were deleted."""
        now = now or datetime.now(UTC)
        with self._lock:
            self._purged = now
            return self._db.execute("DELETE FROM trajectories WHERE hour < ?",
                                    (_hour(now - self.retention),)).rowcount

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM trajectories").fetchone()[0])

    def close(self) -> None:
        self._db.close()
