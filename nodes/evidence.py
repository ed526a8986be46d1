"""Evidence of an event, taken at the node: the frame the event fired on, cut from the
redactor's output (never the raw frame), the triggering object's box drawn on it, downscaled
and JPEG-encoded under a byte cap, stored beside the event in the node's outbox
(``nodes.events``) and sent after it, signed (``nodes.event_sender.EvidenceSender``).

The analytics see frame ``i`` before redaction does (``nodes.analytics.runner``): they ask for
evidence of frame ``i``, and the request waits here until the redactor hands over redacted
frame ``i`` (``nodes.camera``). Requests are thinned per rule and place: at most one every
``every`` seconds of video, so that a burst of alerts brings one picture, and each incident
its first (the coordinator's incident window is longer than ``every``)."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import cv2
import numpy as np

from nodes.events import EventStore, StoredEvidence
from privacy.redaction.engine import RedactedFrame

if TYPE_CHECKING:  # it cuts its frames with ``snapshot`` from here
    from nodes.evidence_clip import ClipTaker

Box = tuple[int, int, int, int]  # left, top, right, bottom, pixels
# Drawn in a colour redaction never uses (its boxes are blurred or black), thick enough to see
# on a 640-px picture; BGR.
BOX_COLOUR = (0, 215, 255)
QUALITIES = (80, 65, 50, 35)


@dataclass(frozen=True)
class Snapshot:
    jpeg: bytes
    width: int
    height: int
    box: Box | None  # in the JPEG's pixels


def union(boxes: Sequence[Sequence[float]]) -> Box | None:
    """The smallest box around ``boxes`` (pixels); None for none."""
    if not boxes:
        return None
    return (int(min(b[0] for b in boxes)), int(min(b[1] for b in boxes)),
            math.ceil(max(b[2] for b in boxes)), math.ceil(max(b[3] for b in boxes)))


def snapshot(redacted: np.ndarray, box: Box | None, width: int, max_bytes: int) -> Snapshot:
    """``redacted`` downscaled to at most ``width`` pixels wide with ``box`` (full-frame
    pixels) drawn, as a JPEG of at most ``max_bytes``: the quality is lowered first, then the
    size halved, until it fits. Raises ValueError when not even a 64-px picture fits."""
    height, wide = redacted.shape[:2]
    while True:
        scale = min(1.0, width / wide)
        size = (max(1, round(wide * scale)), max(1, round(height * scale)))
        image = (cv2.resize(redacted, size, interpolation=cv2.INTER_AREA) if scale < 1
                 else redacted.copy())  # never drawn on the frame the recording keeps
        drawn = None
        if box is not None:
            left, top = max(0, round(box[0] * scale)), max(0, round(box[1] * scale))
            right = min(size[0] - 1, round(box[2] * scale))
            bottom = min(size[1] - 1, round(box[3] * scale))
            drawn = (left, top, max(left, right), max(top, bottom))
            cv2.rectangle(image, drawn[:2], drawn[2:], BOX_COLOUR, max(2, size[0] // 200))
        for quality in QUALITIES:
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise ValueError("the frame could not be encoded as JPEG")
            if len(encoded) <= max_bytes:
                return Snapshot(encoded.tobytes(), size[0], size[1], drawn)
        if width <= 64:
            raise ValueError(f"no JPEG of the frame fits in {max_bytes} bytes")
        width = max(64, width // 2)


@dataclass(frozen=True)
class _Wanted:
    index: int
    seq: int
    time: datetime
    box: Box | None


class EvidenceTaker:
    """One camera's evidence: asked for by the analytics, cut from the redacted frames; with
    ``clips``, each evidence's event gets a clip too (the same thinning), stored when cut."""

    def __init__(self, store: EventStore, camera: str, every: float, width: int,
                 max_bytes: int, clips: ClipTaker | None = None):
        self.store, self.camera, self.clips = store, camera, clips
        self.every, self.width, self.max_bytes = every, width, max_bytes
        self._last: dict[tuple[str, str, str], float] = {}
        self._wanted: list[_Wanted] = []
        self._lock = threading.Lock()
        self.taken = 0

    def want(self, index: int, seconds: float, seq: int, time: datetime,
             key: tuple[str, str, str], box: Box | None) -> bool:
        """Ask for the evidence of event ``seq`` on frame ``index`` (``seconds`` into the video;
        ``key``: its rule, type and zone or line) unless that key had some less than ``every``
        seconds before."""
        if seconds - self._last.get(key, -math.inf) < self.every:
            return False
        self._last[key] = seconds
        with self._lock:
            self._wanted.append(_Wanted(index, seq, time, box))
        if self.clips is not None:
            self.clips.want(index, seq, time, box)
        return True

    def offer(self, frame: RedactedFrame) -> int:
        """Cut the evidence asked for on this redacted frame (or, for a frame the redactor
        never handed over, the first one after it), and the clips it completes; how many
        snapshots were stored."""
        if self.clips is not None:
            for clip in self.clips.offer(frame):
                self.store.add_clip(clip)
        with self._lock:
            due = [w for w in self._wanted if w.index <= frame.index]
            if not due:
                return 0
            self._wanted = [w for w in self._wanted if w.index > frame.index]
        for wanted in due:
            shot = snapshot(frame.image, wanted.box, self.width, self.max_bytes)
            self.store.add_evidence(StoredEvidence(wanted.seq, self.camera, wanted.time,
                                                   shot.width, shot.height, shot.box, shot.jpeg))
        self.taken += len(due)
        return len(due)

    def finish(self) -> None:
        """At the end of the stream: store the clips begun, cut short."""
        if self.clips is not None:
            for clip in self.clips.finish():
                self.store.add_clip(clip)
