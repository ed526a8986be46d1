"""Recording: cut a camera's raw frames into segments, encode each in memory, hand it to the
vault encrypted. A crash loses at most the segment being encoded."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import numpy as np

from nodes.media import ClipEncoder
from nodes.vault.vault import Vault


def record(
    frames: Iterable[np.ndarray],
    fps: float,
    camera: str,
    vault: Vault,
    start: datetime,
    segment_seconds: float = 10.0,
    on_segment: Callable[[str], None] | None = None,
) -> list[str]:
    """Store ``frames`` (starting at ``start``) as encrypted segments; return their ids."""
    per_segment = max(1, round(segment_seconds * fps))
    stored: list[str] = []
    encoder: ClipEncoder | None = None
    segment_start = start
    count = 0

    def close() -> None:
        nonlocal encoder, segment_start
        assert encoder is not None
        end = segment_start + timedelta(seconds=encoder.frames / fps)
        segment_id = vault.store(camera, segment_start, end, encoder.finish())
        stored.append(segment_id)
        if on_segment is not None:
            on_segment(segment_id)
        segment_start, encoder = end, None

    for image in frames:
        if encoder is None:
            encoder = ClipEncoder(fps)
        encoder.add(image)
        count += 1
        if encoder.frames >= per_segment:
            close()
    if encoder is not None:
        close()
    return stored
