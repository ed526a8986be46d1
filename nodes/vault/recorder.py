"""Recording: cut a camera's raw frames into segments, encode each in memory, hand it to the
vault encrypted. A crash loses at most the segment being encoded."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

import numpy as np

from nodes.media import ClipEncoder
from nodes.vault.vault import Vault


class SegmentRecorder:
    """Feed raw frames in order; every ``segment_seconds`` a segment is encrypted and stored."""

    def __init__(self, vault: Vault, camera: str, fps: float, start: datetime,
                 segment_seconds: float = 10.0,
                 on_segment: Callable[[str], None] | None = None):
        self.vault, self.camera, self.fps = vault, camera, fps
        self.per_segment = max(1, round(segment_seconds * fps))
        self.on_segment = on_segment
        self.stored: list[str] = []
        self._start = start
        self._encoder: ClipEncoder | None = None

    def add(self, image: np.ndarray) -> None:
        if self._encoder is None:
            self._encoder = ClipEncoder(self.fps)
        self._encoder.add(image)  # encoded now, before anything downstream touches the frame
        if self._encoder.frames >= self.per_segment:
            self._store()

    def close(self) -> None:
        if self._encoder is not None:
            self._store()

    def _store(self) -> None:
        encoder, self._encoder = self._encoder, None
        if encoder is None:
            return
        end = self._start + timedelta(seconds=encoder.frames / self.fps)
        segment_id = self.vault.store(self.camera, self._start, end, encoder.finish())
        self.stored.append(segment_id)
        self._start = end
        if self.on_segment is not None:
            self.on_segment(segment_id)

    def tee(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Record every frame, then pass it on (to the redactor)."""
        for image in frames:
            self.add(image)
            yield image
        self.close()


def record(frames: Iterable[np.ndarray], fps: float, camera: str, vault: Vault, start: datetime,
           segment_seconds: float = 10.0) -> list[str]:
    """Store ``frames`` (starting at ``start``) as encrypted segments; return their ids."""
    recorder = SegmentRecorder(vault, camera, fps, start, segment_seconds)
    for _ in recorder.tee(frames):
        pass
    return recorder.stored
