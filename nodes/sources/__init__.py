"""Where a camera's frames come from: files, network streams, still images, generated scenes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np


class FrameSource(Protocol):
    """A camera's frames, BGR, in order. ``fps`` is known once the source is open."""

    name: str
    fps: float

    def frames(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


def open_source(uri: str, reconnect_attempts: int = 5, backoff_seconds: float = 1.0,
                max_seconds: float | None = None) -> FrameSource:
    """Open ``uri``: ``synthetic:key=value,...``, ``rtsp://`` (or rtsps, tcp, http, udp), an
    image file, or a video file."""
    from pathlib import Path

    from nodes.media import is_image
    from nodes.sources.files import ImageSource, VideoFileSource
    from nodes.sources.network import NETWORK_SCHEMES, NetworkSource
    from nodes.sources.synthetic import SyntheticSource

    if uri.startswith("synthetic:"):
        return SyntheticSource.from_uri(uri, max_seconds)
    if uri.split("://", 1)[0].lower() in NETWORK_SCHEMES and "://" in uri:
        return NetworkSource(uri, reconnect_attempts, backoff_seconds, max_seconds=max_seconds)
    path = Path(uri)
    if is_image(path):
        return ImageSource(path)
    return VideoFileSource(path, max_seconds)
