"""The redaction pipeline that cameras (``nodes.camera``) and files (``safecity redact``) share:
frames in, through a :class:`~privacy.redaction.engine.StreamRedactor` (``redact_stream``), out
to a :class:`RedactedOutput` (the redacted video and its region records, published together).

Nothing leaves this pipeline unredacted: every frame passes through the redactor before it
reaches a sink, and the region records carry boxes and scores only, never pixels.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

import av
import numpy as np

from kernel.atomic_file import temporary_sibling
from nodes.media import VideoReader, VideoWriter, read_image, write_image
from privacy.errors import MediaError
from privacy.redaction.engine import Detectors, RedactedFrame, StreamRedactor, redact_image
from privacy.redaction.policy import RedactionPolicy


@dataclass
class Summary:
    """What a redaction run did, in counts only."""

    frames: int = 0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    seconds: float = 0.0
    regions: dict[str, int] = field(default_factory=dict)
    detections: dict[str, int] = field(default_factory=dict)
    tracks: dict[str, int] = field(default_factory=dict)
    audio: bool = False

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"frames_per_second": round(self.frames_per_second, 2)}


class RegionLog:
    """Collects region counts and, optionally, writes them as JSON lines (atomically)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._tmp = temporary_sibling(path) if path is not None else None
        self._handle: IO[str] | None = self._tmp.open("w") if self._tmp is not None else None
        self.regions: Counter[str] = Counter()
        self.detections: Counter[str] = Counter()
        self.tracks: dict[str, set[int]] = {}

    def record(self, frame: RedactedFrame) -> None:
        for region in frame.regions:
            self.regions[region.kind] += 1
            self.detections[region.kind] += int(region.detected)
            self.tracks.setdefault(region.kind, set()).add(region.track_id)
            if self._handle is not None:
                self._handle.write(json.dumps({
                    "frame": frame.index, "kind": region.kind,
                    "box": [round(v, 1) for v in region.box], "score": round(region.score, 3),
                    "track": region.track_id, "detected": region.detected,
                }, separators=(",", ":")) + "\n")

    def fill(self, summary: Summary) -> None:
        summary.regions = dict(self.regions)
        summary.detections = dict(self.detections)
        summary.tracks = {kind: len(ids) for kind, ids in self.tracks.items()}

    def commit(self) -> None:
        if self._handle is None or self._tmp is None or self.path is None:
            return
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


class RedactedOutput:
    """A redacted video and its region records: both appear complete under their final names
    (``commit``), or neither does (``abort``). The video is opened with the first frame's size
    unless ``open`` is called first (a file's size is known before its first frame)."""

    def __init__(self, video: Path, regions: Path | None, preset: str = "ultrafast"):
        self.video, self.preset = video, preset
        self.log = RegionLog(regions)
        self.summary = Summary()
        self._writer: VideoWriter | None = None

    def open(self, width: int, height: int, fps: float,
             audio: av.audio.stream.AudioStream | None = None) -> VideoWriter:
        self._writer = VideoWriter(self.video, width, height, fps, audio, preset=self.preset)
        self.summary.width, self.summary.height, self.summary.fps = width, height, fps
        return self._writer

    def write(self, frame: RedactedFrame, fps: float) -> None:
        """Add one redacted frame; ``fps`` is the rate to encode at if this is the first."""
        writer = self._writer
        if writer is None:
            height, width = frame.image.shape[:2]
            writer = self.open(width, height, fps)
        writer.write(frame.image)
        self.log.record(frame)
        self.summary.frames += 1

    def commit(self) -> Summary:
        """Publish both outputs; what they hold, in counts."""
        if self._writer is None:
            raise MediaError(f"{self.video}: no frames to write")
        self._writer.commit()
        self.log.commit()
        self.log.fill(self.summary)
        return self.summary

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
        self.log.abort()


Progress = Callable[[int, int | None], None]  # frames done, of the container's total


def redact_stream(
    frames: Iterable[np.ndarray],
    redactor: StreamRedactor,
    sink: Callable[[RedactedFrame], None],
) -> None:
    """Push every frame through ``redactor`` and hand each redacted frame to ``sink``, in order."""
    for image in frames:
        for done in redactor.push(image):
            sink(done)
    for done in redactor.flush():
        sink(done)


def redact_video_file(
    source: Path,
    target: Path,
    policy: RedactionPolicy,
    detectors: Detectors,
    boxes: Path | None = None,
    progress: Progress | None = None,
    preset: str = "ultrafast",
) -> Summary:
    """Redact a video file into ``target`` (audio copied), optionally logging regions to ``boxes``.

    Either both outputs appear complete under their final names, or neither does.
    """
    started = time.perf_counter()
    with VideoReader(source) as reader:
        info = reader.info
        output = RedactedOutput(target, boxes, preset)
        writer = output.open(info.width, info.height, info.fps, reader.audio_stream)
        output.summary.audio = info.has_audio

        written = 0

        def sink(frame: RedactedFrame) -> None:
            nonlocal written
            output.write(frame, info.fps)
            written += 1
            if progress is not None:
                progress(written, info.frames)

        def video_frames() -> Iterable[np.ndarray]:
            for kind, item in reader.packets():
                if kind == "audio":
                    writer.write_audio(item)  # type: ignore[arg-type]  # an audio Packet
                else:
                    yield item  # type: ignore[misc]  # a video frame: an array

        try:
            with StreamRedactor(detectors, policy, info.fps) as redactor:
                redact_stream(video_frames(), redactor, sink)
            summary = output.commit()
        except BaseException:
            output.abort()
            raise
    summary.seconds = time.perf_counter() - started
    return summary


def redact_image_file(
    source: Path,
    target: Path,
    policy: RedactionPolicy,
    detectors: Detectors,
    boxes: Path | None = None,
) -> Summary:
    started = time.perf_counter()
    image = read_image(source)
    log = RegionLog(boxes)
    try:
        done = redact_image(image, detectors, policy)
        log.record(done)
        write_image(target, done.image)
        log.commit()
    except BaseException:
        log.abort()
        raise
    summary = Summary(frames=1, width=image.shape[1], height=image.shape[0])
    log.fill(summary)
    summary.seconds = time.perf_counter() - started
    return summary


def check_output_path(source: Path, target: Path) -> None:
    if source.resolve() == target.resolve():
        raise MediaError(f"{target}: output would overwrite the input")
