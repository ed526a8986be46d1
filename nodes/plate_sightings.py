"""Turning the plates a camera's redactor read into sightings: keyed hash, camera, time, track,
and a small thumbnail of the already-redacted frame. The plain reading goes no further.

One track gives several readings, some of them partial (a plate entering the frame, a character
hidden for a moment). Readings are voted per track, as ALPR systems do: when the track ends, the
reading seen most often (then the longest) is stored, with any other reading seen at least twice
that is not part of it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cv2
import numpy as np

from nodes.sightings import SightingStore
from privacy.redaction.engine import RedactedFrame

THUMBNAIL_WIDTH = 240


def thumbnail(image: np.ndarray) -> bytes:
    height, width = image.shape[:2]
    small = cv2.resize(image, (THUMBNAIL_WIDTH, max(1, round(height * THUMBNAIL_WIDTH / width))),
                       interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return data.tobytes() if ok else b""


@dataclass
class _Track:
    last: int
    votes: Counter[str] = field(default_factory=Counter)
    first: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # reading -> frame, thumb


def chosen(votes: Counter[str]) -> list[str]:
    """The readings to store for one track."""
    best = max(votes, key=lambda text: (votes[text], len(text), text))
    return [best, *sorted(t for t, n in votes.items() if t != best and n >= 2 and t not in best)]


class PlateSightings:
    def __init__(self, store: SightingStore, camera: str, start: datetime, fps: float):
        self.store = store
        self.camera = camera
        self.start = start
        self.fps = fps
        self.gap = max(1, int(2 * fps))  # a track unseen this long has ended
        self._tracks: dict[int, _Track] = {}
        self.recorded = 0

    def record(self, frame: RedactedFrame) -> None:
        for region in frame.regions:
            if region.kind != "plate":
                continue
            track = self._tracks.setdefault(region.track_id, _Track(frame.index))
            track.last = frame.index
            if region.text is not None:
                track.votes[region.text] += 1
                if region.text not in track.first:
                    track.first[region.text] = (frame.index, thumbnail(frame.image))
        ended = [t for t, track in self._tracks.items() if frame.index - track.last > self.gap]
        self._store(ended)

    def close(self) -> None:
        self._store(list(self._tracks))

    def _store(self, track_ids: list[int]) -> None:
        rows = []
        for track_id in track_ids:
            track = self._tracks.pop(track_id)
            if not track.votes:
                continue
            for text in chosen(track.votes):
                index, thumb = track.first[text]
                rows.append((self.camera, self.start + timedelta(seconds=index / self.fps),
                             track_id, text, thumb))
        if rows:
            self.recorded += self.store.add_many(rows)
