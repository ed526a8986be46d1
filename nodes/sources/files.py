"""Video files and still images as frame sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from nodes.media import VideoReader, read_image


class VideoFileSource:
    def __init__(self, path: Path, max_seconds: float | None = None):
        self._reader = VideoReader(path)
        self.name = str(path)
        self.fps = self._reader.info.fps
        self._limit = None if max_seconds is None else int(max_seconds * self.fps)

    def frames(self) -> Iterator[np.ndarray]:
        count = 0
        for kind, item in self._reader.packets():
            if kind == "video":
                yield item  # type: ignore[misc]
                count += 1
                if self._limit is not None and count >= self._limit:
                    return

    def close(self) -> None:
        self._reader.close()


class ImageSource:
    def __init__(self, path: Path):
        self._image = read_image(path)
        self.name = str(path)
        self.fps = 1.0

    def frames(self) -> Iterator[np.ndarray]:
        yield self._image.copy()

    def close(self) -> None:
        pass
