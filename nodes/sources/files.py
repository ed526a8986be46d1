"""Video files and still images as frame sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from nodes.media import UNREADABLE, VideoReader, read_image
from nodes.sources import Listener

SOUND_RATE = 16000


class VideoFileSource:
    """A video file's frames; its sound track, if any, goes to ``listener`` as mono float32
    samples at 16 kHz, interleaved with the frames as the file is decoded."""

    def __init__(self, path: Path, max_seconds: float | None = None):
        self._reader = VideoReader(path)
        self.name = str(path)
        self.fps = self._reader.info.fps
        self._limit = None if max_seconds is None else int(max_seconds * self.fps)
        self.listener: Listener | None = None
        self.reconnects = self.dropped_frames = 0  # a file is never unreachable

    @property
    def has_sound(self) -> bool:
        return self._reader.info.has_audio

    def frames(self) -> Iterator[np.ndarray]:
        count = 0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SOUND_RATE)
        for kind, item in self._reader.packets():
            if kind == "audio":
                if self.listener is not None:
                    try:
                        for frame in item.decode():  # type: ignore[attr-defined]  # an audio Packet
                            for mono in resampler.resample(frame):
                                self.listener(mono.to_ndarray().reshape(-1), SOUND_RATE)
                    except UNREADABLE:  # a broken sound packet: skipped, the video goes on
                        continue
                continue
            if kind == "video":
                yield item  # type: ignore[misc]  # a video frame: an array
                count += 1
                if self._limit is not None and count >= self._limit:
                    return

    def close(self) -> None:
        self._reader.close()


class ImageSource:
    """A still image as a camera that delivers one frame."""

    has_sound = False

    def __init__(self, path: Path):
        self._image = read_image(path)
        self.name = str(path)
        self.fps = 1.0
        self.reconnects = self.dropped_frames = 0
        self.listener: Listener | None = None

    def frames(self) -> Iterator[np.ndarray]:
        yield self._image.copy()

    def close(self) -> None:
        pass
