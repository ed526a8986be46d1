"""Plate sightings at a node: keyed hashes only, with camera, time and track.

The plain plate is never written: each reading becomes HMAC-SHA256 under the node's plate key.
A watchlist query hashes its targets with the same key and looks them up inside its scope.
Sightings are deleted at their camera's retention, with the raw video (``nodes.retention``);
``secure_delete`` zeroes what is deleted, so a thumbnail does not linger in free pages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nodes.local_db import expire, open_store
from privacy.plates import keyed_hash, normalize

# the schema, one script per version (nodes.local_db); version 1 is the first schema
MIGRATIONS = ("""
CREATE TABLE IF NOT EXISTS sightings (
    id INTEGER PRIMARY KEY,
    plate_mac BLOB NOT NULL,
    camera TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    track INTEGER NOT NULL,
    thumbnail BLOB
);
CREATE INDEX IF NOT EXISTS sightings_by_mac ON sightings (plate_mac, camera, time_us);
CREATE INDEX IF NOT EXISTS sightings_by_time ON sightings (camera, time_us);
""",)
_CHUNK = 500


@dataclass(frozen=True)
class Sighting:
    sighting_id: str
    target: str
    camera: str
    time: datetime
    thumbnail: bytes | None


def to_us(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1_000_000)


class SightingStore:
    def __init__(self, path: Path, plate_key: bytes):
        self._db = open_store(path, MIGRATIONS, pragmas=("synchronous=NORMAL",
                                                          "secure_delete=ON"))
        self._key = plate_key
        self._lock = threading.Lock()

    def add(self, camera: str, moment: datetime, track: int, plate: str,
            thumbnail: bytes | None = None) -> None:
        self.add_many([(camera, moment, track, plate, thumbnail)])

    def add_many(self, rows: Iterable[tuple[str, datetime, int, str, bytes | None]]) -> int:
        values = [(keyed_hash(self._key, plate), camera, to_us(moment), track, thumbnail)
                  for camera, moment, track, plate, thumbnail in rows]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO sightings (plate_mac, camera, time_us, track, "
                                 "thumbnail) VALUES (?, ?, ?, ?, ?)", values)
            self._db.execute("COMMIT")
        return len(values)

    def count(self, cameras: Sequence[str], start: datetime, end: datetime) -> int:
        marks = ",".join("?" * len(cameras))
        with self._lock:
            (total,) = self._db.execute(
                f"SELECT COUNT(*) FROM sightings WHERE camera IN ({marks}) "
                "AND time_us >= ? AND time_us < ?", (*cameras, to_us(start), to_us(end)),
            ).fetchone()
        return int(total)

    def match(self, plates: Sequence[str], cameras: Sequence[str], start: datetime,
              end: datetime) -> list[Sighting]:
        """Sightings of ``plates`` on ``cameras`` in [start, end); nothing else is read."""
        by_mac = {keyed_hash(self._key, p): normalize(p) for p in plates}
        macs = list(by_mac)
        found = []
        camera_marks = ",".join("?" * len(cameras))
        with self._lock:
            for i in range(0, len(macs), _CHUNK):
                chunk = macs[i:i + _CHUNK]
                rows = self._db.execute(
                    f"SELECT id, plate_mac, camera, time_us, thumbnail FROM sightings "
                    f"WHERE plate_mac IN ({','.join('?' * len(chunk))}) "
                    f"AND camera IN ({camera_marks}) AND time_us >= ? AND time_us < ? "
                    "ORDER BY time_us",
                    (*chunk, *cameras, to_us(start), to_us(end)),
                ).fetchall()
                found += [Sighting(f"s{row_id}", by_mac[mac], camera,
                                   datetime.fromtimestamp(us / 1_000_000, UTC), thumb)
                          for row_id, mac, camera, us, thumb in rows]
        return sorted(found, key=lambda s: (s.time, s.sighting_id))

    def purge(self, cutoff: Callable[[str], datetime],
              announce: Callable[[dict[str, dict[str, int]]], None]) -> int:
        """Delete the sightings older than ``cutoff(camera)``; ``announce`` is told how many
        first (``nodes.local_db.expire``). Returns how many were deleted."""
        with self._lock:
            deleted = expire(self._db, {"sightings": "time_us"},
                             lambda camera: to_us(cutoff(camera)), announce)
        return deleted["sightings"]

    def close(self) -> None:
        self._db.close()
