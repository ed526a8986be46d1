"""The redaction engine: detectors on keyframes, tracks in between, regions hidden on every frame.

``StreamRedactor`` takes frames in order and gives them back redacted, in order, a few frames
later: a frame leaves only once the detections of the next keyframe are known, so a face that
appears between two keyframes is covered from the frame it appeared on (see
:mod:`privacy.redaction.tracks`). Detection runs on a worker thread (OpenCV and onnxruntime
release the GIL), so decoding and encoding proceed meanwhile.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from privacy import model_registry
from privacy.redaction.boxes import Box, Detection, Kind, Labelled
from privacy.redaction.people import (
    EDGE_UNCERTAINTY_INPUT_PX,
    bound_faces,
    missed_heads,
    persons,
)
from privacy.redaction.plate_reader import PlateReader
from privacy.redaction.plate_search import VEHICLE_LABELS, PlateRules, find_plates
from privacy.redaction.policy import RedactionPolicy
from privacy.redaction.styles import redact
from privacy.redaction.tracks import TrackSet


class FrameDetectors(Protocol):
    """What the engine asks of its detectors (:class:`Detectors`, or a wrapper that times them)."""

    def detect(self, frame: np.ndarray, plates: bool = True) -> list[Detection]: ...


@dataclass(frozen=True)
class Region:
    """A hidden region of one frame: what it was, where, and whether it was detected there."""

    kind: Kind
    box: Box
    score: float
    track_id: int
    detected: bool
    text: str | None = None  # a plate's reading, taken from the raw frame before redaction


@dataclass
class RedactedFrame:
    index: int
    image: np.ndarray
    regions: list[Region]


class ObjectSource(Protocol):
    """An object detector (privacy.redaction.objects): COCO-labelled boxes in frame pixels."""

    def detect(self, frame: np.ndarray) -> Sequence[Labelled]: ...


class Detectors:
    """The detectors a policy asks for, loaded once per process from the model cache.

    On each keyframe: the object detector (people and vehicles), the face detector, and on plate
    keyframes the text detector on the frame and on each vehicle's crop. Faces are bounded by
    their person, heads the face detector missed are added from the person boxes, plates are
    kept where vehicles are (:mod:`privacy.redaction.people`,
    :mod:`privacy.redaction.plate_search`).
    """

    def __init__(self, policy: RedactionPolicy, model_dir: Path,
                 objects: ObjectSource | None = None):
        from privacy.redaction.faces import CenterFaceDetector
        from privacy.redaction.objects import ObjectDetector
        from privacy.redaction.plates import TextPlateDetector

        self.policy = policy
        self.face: CenterFaceDetector | None = None
        self.plate: TextPlateDetector | None = None
        self.objects = objects
        if objects is None and (policy.plates or (policy.faces and policy.heads)):
            self.objects = ObjectDetector(
                model_registry.verified_model("nanodet", model_dir),
                input_size=policy.object_input_size,
                score_threshold=policy.object_threshold,
                labels=("person", *VEHICLE_LABELS),
                threads=2,
            )
        if policy.faces:
            self.face = CenterFaceDetector(
                model_registry.verified_model("centerface", model_dir),
                threshold=policy.face_threshold,
                input_width=policy.face_input_width,
                edge_threshold=policy.face_edge_threshold,
            )
        if policy.plates:
            self.plate = TextPlateDetector(
                model_registry.verified_model("ppocr-det", model_dir),
                input_width=policy.plate_input_width,
                box_threshold=policy.plate_threshold,
                threads=2,
            )
        self.rules = PlateRules(policy.plate_crop_width, policy.plate_crop_scale,
                                policy.plate_crops, policy.plate_alone_height,
                                policy.plate_zones, policy.plate_readable_width)

    def detect(self, frame: np.ndarray, plates: bool = True) -> list[Detection]:
        policy = self.policy
        height = frame.shape[0]
        objects = self.objects.detect(frame) if self.objects is not None else []
        found: list[Detection] = []
        if self.face is not None:
            people = persons(objects, policy.object_threshold)
            faces = bound_faces(self.face.detect(frame), people)
            found += faces
            if policy.heads:
                covers = [_cover("face", f.box, f.box, policy.margin) for f in faces]
                # one input pixel of the object detector, whose input is the frame's longer side
                pixel = max(frame.shape[:2]) / policy.object_input_size
                found += missed_heads([f.box for f in faces], covers, people, height,
                                      policy.head_min_height,
                                      pad=EDGE_UNCERTAINTY_INPUT_PX * pixel,
                                      from_width=policy.head_from_width)
        if plates and self.plate is not None:
            found += find_plates(frame, self.plate, objects, policy.object_threshold,
                                 self.rules)
        return found


class StreamRedactor:
    """Redact a stream of frames with keyframe detection and temporal persistence."""

    def __init__(self, detectors: FrameDetectors, policy: RedactionPolicy, fps: float,
                 reader: PlateReader | None = None):
        self.detectors = detectors
        self.reader = reader
        self.policy = policy
        every = policy.detect_every
        persist = max(every, math.ceil(policy.persist_seconds * max(fps, 1.0)))
        # A plate track is seen only on every plates_every-th keyframe: let it bridge those gaps.
        gap = every * max(2, policy.plates_every + 1)
        edge = math.ceil(policy.edge_persist_seconds * max(fps, 1.0))
        self.tracks = TrackSet(max_gap=gap, persist=max(persist, gap), preroll=gap,
                               edge_persist=edge)
        self._pending: deque[tuple[int, np.ndarray]] = deque()
        self._keyframes: deque[tuple[int, Future[list[Detection]]]] = deque()
        self._keyframe_count = 0
        self._last_keyframe = -1
        self._next_index = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect")

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    @property
    def backlog(self) -> int:
        """Frames pushed and not yet released (waiting for their keyframe's detections)."""
        return len(self._pending)

    def __enter__(self) -> StreamRedactor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit_keyframe(self, index: int, frame: np.ndarray, last: bool = False) -> None:
        # the stream's last frame always gets the plate detector too: no later keyframe follows
        plates = last or self._keyframe_count % self.policy.plates_every == 0
        self._keyframe_count += 1
        self._last_keyframe = index
        future = self._executor.submit(self.detectors.detect, frame, plates)
        self._keyframes.append((index, future))

    def push(self, frame: np.ndarray) -> list[RedactedFrame]:
        """Add the next frame; return the frames that are now ready, in order."""
        if self.tracks.size is None:
            self.tracks.size = (frame.shape[1], frame.shape[0])
        index = self._next_index
        self._next_index += 1
        self._pending.append((index, frame))
        ready: list[RedactedFrame] = []
        if index % self.policy.detect_every == 0:
            self._submit_keyframe(index, frame)
            # Block only when detection falls two keyframes behind: bounded memory and latency.
            while len(self._keyframes) > 2:
                ready += self._absorb_next()
        while self._keyframes and self._keyframes[0][1].done():
            ready += self._absorb_next()
        return ready

    def flush(self) -> list[RedactedFrame]:
        """End of stream: detect on the last frame too, then release everything."""
        if self._pending and self._pending[-1][0] != self._last_keyframe:
            index, frame = self._pending[-1]
            self._submit_keyframe(index, frame, last=True)
        ready: list[RedactedFrame] = []
        while self._keyframes:
            ready += self._absorb_next()
        return ready

    def _absorb_next(self) -> list[RedactedFrame]:
        """Link the oldest keyframe's detections into the tracks and release the frames up to it.

        Frames are released before the next keyframe is absorbed, so what covers a frame depends
        only on the keyframes up to the first one at or after it, never on detection timing.
        """
        keyframe, future = self._keyframes.popleft()
        self.tracks.update(keyframe, future.result())
        ready = []
        while self._pending and self._pending[0][0] <= keyframe:
            ready.append(self._redact(*self._pending.popleft()))
        self.tracks.forget_before(self._pending[0][0] if self._pending else self._next_index)
        return ready

    def _redact(self, index: int, frame: np.ndarray) -> RedactedFrame:
        regions = []
        height, width = frame.shape[:2]
        for track, box, score in self.tracks.regions_at(index):
            seen = min(track.points, key=lambda point: abs(point[0] - index))[1]
            cover = _cover(track.kind, box, seen, self.policy.margin).clipped(width, height)
            if cover.area <= 0:
                continue
            detected = any(f == index for f, _, _ in track.points)
            text = None
            if (self.reader is not None and detected and track.kind == "plate"
                    and _inside(box, width, height)):  # a plate cut by the edge reads wrong
                reading = self.reader.read(frame, box)  # still the raw pixels
                text = reading.plate if reading else None
            regions.append(Region(track.kind, cover, score, track.track_id, detected, text))
        for region in regions:  # read everything first: a cover may overlap another plate
            redact(frame, region.box, self.policy.style, self.policy.shape, self.policy.colour)
        return RedactedFrame(index, frame, regions)


def _inside(box: Box, width: int, height: int, border: int = 2) -> bool:
    return (box.x1 >= border and box.y1 >= border and box.x2 <= width - border
            and box.y2 <= height - border)


def _cover(kind: Kind, box: Box, seen: Box, margin: float) -> Box:
    """The box plus its margin, taken from ``seen``, the track's detected box nearest in time:
    the box between detections is swept along the track's motion, and a margin in proportion to
    the sweep would grow with speed, not with the face. A face's margin is taken from its longer
    side on both axes: a face cut by the frame edge or turned sideways is detected narrower than
    it is, not shorter. A head or a plate zone is a region already sized with room to spare from
    its person's or vehicle's box: a margin would only grow it past what its class allows."""
    if kind == "face":
        side = margin * max(seen.width, seen.height)
        # the detector's box ends at the brow: the forehead and hair above it get the margin twice
        return Box(box.x1 - side, box.y1 - 2 * side, box.x2 + side, box.y2 + side)
    if kind == "plate":
        return Box(box.x1 - margin * seen.width, box.y1 - margin * seen.height,
                   box.x2 + margin * seen.width, box.y2 + margin * seen.height)
    return box


def redact_image(image: np.ndarray, detectors: Detectors, policy: RedactionPolicy) -> RedactedFrame:
    """Redact a single still image (detection on it, no tracking)."""
    with StreamRedactor(detectors, policy, fps=1.0) as stream:
        return (stream.push(image) + stream.flush())[0]
