"""Multi-object tracking by detection, after ByteTrack (Zhang et al., "ByteTrack: Multi-Object
Tracking by Associating Every Detection Box", ECCV 2022): confident detections are matched to
the predicted tracks first (IoU, Hungarian assignment), then the low-score detections to the
tracks still unmatched, which keeps people through partial occlusion; only confident unmatched
detections start tracks, and a track unseen for ``max_age`` frames ends. Motion is a constant
velocity model on the box (enough at camera frame rates; no Kalman filter)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    kind: str = "person"


@dataclass
class Track:
    track_id: int
    kind: str
    box: Box
    velocity: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    hits: int = 1
    missed: int = 0
    history: list[tuple[int, Box]] = field(default_factory=list)

    def predicted(self) -> Box:
        return tuple(b + v * (self.missed + 1)
                     for b, v in zip(self.box, self.velocity, strict=True))  # type: ignore[return-value]


def iou_matrix(a: list[Box], b: list[Box]) -> np.ndarray:
    if not a or not b:
        return np.zeros((len(a), len(b)))
    x = np.asarray(a, dtype=float)[:, None, :]
    y = np.asarray(b, dtype=float)[None, :, :]
    width = np.clip(np.minimum(x[..., 2], y[..., 2]) - np.maximum(x[..., 0], y[..., 0]), 0, None)
    height = np.clip(np.minimum(x[..., 3], y[..., 3]) - np.maximum(x[..., 1], y[..., 1]), 0,
                     None)
    inter = width * height
    area_x = (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])
    area_y = (y[..., 2] - y[..., 0]) * (y[..., 3] - y[..., 1])
    return inter / np.maximum(area_x + area_y - inter, 1e-9)


class ByteTracker:
    def __init__(self, high: float = 0.5, low: float = 0.1, match_iou: float = 0.2,
                 max_age: int = 30, min_hits: int = 2):
        self.high, self.low, self.match_iou = high, low, match_iou
        self.max_age, self.min_hits = max_age, min_hits
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)
        self.frame = -1

    def update(self, detections: list[Detection]) -> list[Track]:
        """Advance one frame; return the confirmed tracks seen on it."""
        self.frame += 1
        confident = [d for d in detections if d.score >= self.high]
        weak = [d for d in detections if self.low <= d.score < self.high]
        unmatched = list(range(len(self.tracks)))
        unmatched, leftover = self._associate(unmatched, confident)
        unmatched, _ = self._associate(unmatched, weak)
        for index in unmatched:
            self.tracks[index].missed += 1
        for detection in leftover:
            track = Track(next(self._ids), detection.kind, detection.box)
            track.history.append((self.frame, detection.box))
            self.tracks.append(track)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_age]
        return [t for t in self.tracks if t.missed == 0 and t.hits >= self.min_hits]

    def _associate(self, candidates: list[int], detections: list[Detection]
                   ) -> tuple[list[int], list[Detection]]:
        """Match tracks (indices) to detections of the same kind; return what is left of each."""
        if not candidates or not detections:
            return candidates, detections
        predicted = [self.tracks[i].predicted() for i in candidates]
        overlap = iou_matrix(predicted, [d.box for d in detections])
        for row, i in enumerate(candidates):
            for col, detection in enumerate(detections):
                if self.tracks[i].kind != detection.kind:
                    overlap[row, col] = 0.0
        rows, cols = linear_sum_assignment(-overlap)
        matched_tracks, matched_detections = set(), set()
        for row, col in zip(rows, cols, strict=True):
            if overlap[row, col] < self.match_iou:
                continue
            self._absorb(self.tracks[candidates[row]], detections[col])
            matched_tracks.add(candidates[row])
            matched_detections.add(col)
        return ([i for i in candidates if i not in matched_tracks],
                [d for j, d in enumerate(detections) if j not in matched_detections])

    def _absorb(self, track: Track, detection: Detection) -> None:
        steps = track.missed + 1
        velocity = tuple((new - old) / steps for new, old in zip(detection.box, track.box,
                                                                  strict=True))
        track.velocity = tuple(0.6 * v + 0.4 * w for v, w in zip(velocity, track.velocity,
                                                                  strict=True))  # type: ignore[assignment]
        track.box = detection.box
        track.hits += 1
        track.missed = 0
        track.history.append((self.frame, detection.box))
