"""A short redacted clip of an event's triggering frames, cut at the node from the redactor's
output as it streams (issue 23's "on request a short redacted clip": ``nodes.evidence`` asks
for one beside each evidence snapshot and stores it, ``nodes.inbox.clips`` sends it on request;
see ``docs/architecture.md``).

The camera's redacted recording is one file per run, with no time per frame, so a clip is not
cut from it afterwards: like the evidence snapshot (``nodes.evidence``), it is taken from the
redacted frames the redactor hands over (never the raw frame), while they pass. A ring holds the
last ``before`` seconds of frames, sampled at ``fps`` and each kept as a downscaled JPEG under a
byte cap (``nodes.evidence.snapshot``: memory stays about ``before * fps`` small JPEGs per
camera); an event asks for a clip of its frame, and once ``after`` seconds past it have been
handed over the clip is cut: each frame with its index and its time (the event's time plus the
frames' distance at the stream's rate), the event's frame with the triggering object's box
drawn. A frame the redactor never handed over is simply missing from the clip."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from nodes.events import Clip, ClipFrame
from nodes.evidence import Box, snapshot
from privacy.redaction.engine import RedactedFrame


@dataclass(frozen=True)
class _Wanted:
    index: int
    seq: int
    time: datetime
    box: Box | None


class ClipTaker:
    """One camera's clips: frames ``before`` seconds ahead of an event's frame to ``after``
    seconds past it, at most ``fps`` frames a second, from a stream of ``stream_fps``."""

    def __init__(self, camera: str, stream_fps: float, *, before: float = 2.0,
                 after: float = 2.0, fps: float = 4.0, width: int = 480,
                 max_bytes: int = 40_000) -> None:
        if stream_fps <= 0 or fps <= 0 or before < 0 or after < 0:
            raise ValueError("a clip needs positive rates and non-negative spans")
        self.camera, self.stream_fps = camera, stream_fps
        self.step = max(1, math.ceil(stream_fps / fps - 1e-9))  # every step-th: never above fps
        self.before = round(before * stream_fps)  # in frames
        self.after = round(after * stream_fps)
        self.width, self.max_bytes = width, max_bytes
        self._ring: deque[tuple[int, bytes, int, int]] = deque(
            maxlen=self.before // self.step + 2)
        self._wanted: list[_Wanted] = []
        self._taking: dict[int, list[ClipFrame]] = {}  # seq -> frames so far
        self._lock = threading.Lock()

    def want(self, index: int, seq: int, time: datetime, box: Box | None) -> None:
        """Ask for a clip around event ``seq`` on frame ``index`` at ``time`` (``box``: the
        triggering object, full-frame pixels)."""
        with self._lock:
            self._wanted.append(_Wanted(index, seq, time, box))

    def _time(self, wanted: _Wanted, index: int) -> datetime:
        return wanted.time + timedelta(seconds=(index - wanted.index) / self.stream_fps)

    def offer(self, frame: RedactedFrame) -> list[Clip]:
        """Take a redacted frame; the clips it completes."""
        with self._lock:
            wanted = list(self._wanted)
        marked = [w for w in wanted if w.index == frame.index
                  or (w.index < frame.index and w.seq not in self._taking)]
        kept = frame.index % self.step == 0
        plain = snapshot(frame.image, None, self.width, self.max_bytes) if kept else None
        for w in marked:  # the event's frame (or the first handed over after it): boxed
            self._taking[w.seq] = [ClipFrame(i, self._time(w, i), jpeg, wide, high, None)
                                   for i, jpeg, wide, high in self._ring
                                   if w.index - self.before <= i < frame.index]
            shot = snapshot(frame.image, w.box, self.width, self.max_bytes)
            self._taking[w.seq].append(ClipFrame(frame.index, self._time(w, frame.index),
                                                 shot.jpeg, shot.width, shot.height, shot.box,
                                                 event_frame=True))
        for w in wanted:
            if w in marked or w.seq not in self._taking:
                continue
            if plain is not None and frame.index <= w.index + self.after:
                self._taking[w.seq].append(ClipFrame(frame.index, self._time(w, frame.index),
                                                     plain.jpeg, plain.width, plain.height,
                                                     None))
        if plain is not None:
            self._ring.append((frame.index, plain.jpeg, plain.width, plain.height))
        done = [w for w in wanted if w.seq in self._taking and frame.index >= w.index + self.after]
        with self._lock:
            self._wanted = [w for w in self._wanted if w not in done]
        return [Clip(w.seq, self.camera, tuple(self._taking.pop(w.seq))) for w in done]

    def finish(self) -> list[Clip]:
        """At the end of the stream: the clips begun, cut short."""
        with self._lock:
            wanted, self._wanted = self._wanted, []
        return [Clip(w.seq, self.camera, tuple(self._taking.pop(w.seq)))
                for w in wanted if w.seq in self._taking]
