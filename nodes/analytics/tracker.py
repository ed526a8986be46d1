"""Multi-object tracking by detection, after ByteTrack (Zhang et al., "ByteTrack: Multi-Object
Tracking by Associating Every Detection Box", ECCV 2022): confident detections are matched to
the predicted tracks first (IoU, Hungarian assignment), then the low-score detections to the
tracks still unmatched, which keeps people through partial occlusion; only confident unmatched
detections start tracks, and a track unseen for ``max_age`` frames ends. A third, optional tier
(``faint`` up to ``low``) may only continue a confirmed track that both earlier passes left
unmatched, and only where it overlaps the prediction closely (``faint_iou``): a person passing
behind another scores lower still, and ByteTrack's premise is that such a box is worth keeping
when a track explains it; the stricter conditions keep the far more numerous faint boxes on posts
and bollards from starting or merging into tracks. Motion is a constant
velocity model on the box (enough at camera frame rates; no Kalman filter).

Two additions for motion blobs: a track whose predicted box lies inside a much larger detection
(people passing each other merge into one blob) coasts on its own motion instead of taking the
merged box, so both come out with their identities when the blob splits; and a track that no box
overlaps is matched by distance to a nearby detection of its size (a fast mover at a low frame
rate jumps further than its own width)."""

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
    label: str | None = None  # the detector's own class name (a COCO label), where it has one


@dataclass
class Track:
    track_id: int
    kind: str
    box: Box
    velocity: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    hits: int = 1
    missed: int = 0
    history: list[tuple[int, Box]] = field(default_factory=list)
    votes: dict[str, int] = field(default_factory=dict)  # kinds its detections had
    coasting: int = 0  # frames in a row it moved on its own inside a merged blob

    def vote(self, kind: str) -> None:
        """A blob's shape changes (entering the frame, bending): the track is what its
        detections mostly were."""
        self.votes[kind] = self.votes.get(kind, 0) + 1
        self.kind = max(self.votes, key=lambda k: (self.votes[k], k == self.kind))

    def predicted(self) -> Box:
        x1, y1, x2, y2 = (b + v * (self.missed + 1)
                          for b, v in zip(self.box, self.velocity, strict=True))
        return x1, y1, x2, y2


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


MERGED = 1.6  # a detection this many times a track's area is a merged blob


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _intersection(a: Box, b: Box) -> float:
    return (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


class ByteTracker:
    def __init__(self, high: float = 0.5, low: float = 0.1, match_iou: float = 0.2,
                 max_age: int = 30, min_hits: int = 2, faint: float | None = None,
                 faint_iou: float = 0.5):
        self.high, self.low, self.match_iou = high, low, match_iou
        self.faint, self.faint_iou = faint, faint_iou
        self.max_age, self.min_hits = max_age, min_hits
        self.tracks: list[Track] = []
        self._merged: set[Box] = set()
        self._ids = itertools.count(1)
        self.frame = -1

    def update(self, detections: list[Detection]) -> list[Track]:
        """Advance one frame; return the confirmed tracks seen on it."""
        self.frame += 1
        confident = [d for d in detections if d.score >= self.high]
        weak = [d for d in detections if self.low <= d.score < self.high]
        unmatched = list(range(len(self.tracks)))
        self._merged = self._merged_blobs(detections)
        unmatched, leftover = self._associate(unmatched, confident)
        unmatched, _ = self._associate(unmatched, weak)
        unmatched = self._continue_faint(unmatched, detections)
        unmatched = self._coast_inside(unmatched)
        unmatched, leftover = self._nearby(unmatched, leftover)
        for index in unmatched:
            self.tracks[index].missed += 1
        for detection in leftover:
            track = Track(next(self._ids), detection.kind, detection.box)
            track.vote(detection.kind)
            track.history.append((self.frame, detection.box))
            self.tracks.append(track)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_age]
        return [t for t in self.tracks if t.missed == 0 and t.hits >= self.min_hits]

    def _continue_faint(self, candidates: list[int], detections: list[Detection]) -> list[int]:
        """Match confirmed tracks to the faint detections (never starting one); return the
        tracks still unmatched."""
        if self.faint is None:
            return candidates
        faint = [d for d in detections if self.faint <= d.score < self.low]
        confirmed = [i for i in candidates if self.tracks[i].hits >= self.min_hits]
        left, _ = self._associate(confirmed, faint, self.faint_iou)
        return [i for i in candidates if i not in confirmed or i in left]

    def _associate(self, candidates: list[int], detections: list[Detection],
                   match_iou: float | None = None) -> tuple[list[int], list[Detection]]:
        """Match tracks (indices) to detections; return what is left of each."""
        if not candidates or not detections:
            return candidates, detections
        predicted = [self.tracks[i].predicted() for i in candidates]
        overlap = iou_matrix(predicted, [d.box for d in detections])
        rows, cols = linear_sum_assignment(-overlap)
        least = self.match_iou if match_iou is None else match_iou
        matched_tracks, matched_detections = set(), set()
        for row, col in zip(rows, cols, strict=True):
            if overlap[row, col] < least:
                continue
            self._absorb(self.tracks[candidates[row]], detections[col])
            matched_tracks.add(candidates[row])
            matched_detections.add(col)
        return ([i for i in candidates if i not in matched_tracks],
                [d for j, d in enumerate(detections) if j not in matched_detections])

    def _inside(self, track: Track, box: Box) -> bool:
        predicted = track.predicted()
        area = _area(predicted)
        return (track.hits >= self.min_hits and track.coasting < self.max_age and area > 0
                and _area(box) >= MERGED * area and _intersection(predicted, box) >= 0.6 * area)

    def _merged_blobs(self, detections: list[Detection]) -> set[Box]:
        """Detections that hold two or more established tracks."""
        return {d.box for d in detections
                if sum(self._inside(t, d.box) for t in self.tracks) >= 2}

    def _coast_inside(self, candidates: list[int]) -> list[int]:
        """Tracks hidden in a merged blob keep moving on their own; return the others."""
        left = []
        for i in candidates:
            if any(self._inside(self.tracks[i], box) for box in self._merged):
                self._coast(self.tracks[i])
            else:
                left.append(i)
        return left

    def _nearby(self, candidates: list[int], detections: list[Detection]
                ) -> tuple[list[int], list[Detection]]:
        """Match what no box overlaps by centre distance: within one box size of the
        prediction, similar size."""
        if not candidates or not detections:
            return candidates, detections
        cost = np.full((len(candidates), len(detections)), 1e6)
        for row, i in enumerate(candidates):
            track = self.tracks[i]
            predicted = track.predicted()
            reach = max(predicted[2] - predicted[0], predicted[3] - predicted[1])
            for col, d in enumerate(detections):
                ratio = _area(d.box) / max(_area(predicted), 1e-9)
                distance = float(np.hypot(*(np.subtract(_centre(d.box), _centre(predicted)))))
                if 0.5 <= ratio <= 2.0 and distance <= reach:
                    cost[row, col] = distance
        rows, cols = linear_sum_assignment(cost)
        matched_tracks, matched_detections = set(), set()
        for row, col in zip(rows, cols, strict=True):
            if cost[row, col] < 1e6:
                self._absorb(self.tracks[candidates[row]], detections[col])
                matched_tracks.add(candidates[row])
                matched_detections.add(col)
        return ([i for i in candidates if i not in matched_tracks],
                [d for j, d in enumerate(detections) if j not in matched_detections])

    def _coast(self, track: Track) -> None:
        track.box = track.predicted()
        track.hits += 1
        track.missed = 0
        track.coasting += 1
        track.history.append((self.frame, track.box))

    def _absorb(self, track: Track, detection: Detection) -> None:
        if detection.box in self._merged:
            self._coast(track)  # a merged blob: keep the track's own box and motion
            return
        track.vote(detection.kind)
        track.coasting = 0
        steps = track.missed + 1
        velocity = tuple((new - old) / steps for new, old in zip(detection.box, track.box,
                                                                  strict=True))
        vx1, vy1, vx2, vy2 = (0.6 * v + 0.4 * w for v, w in zip(velocity, track.velocity,
                                                                 strict=True))
        track.velocity = vx1, vy1, vx2, vy2
        track.box = detection.box
        track.hits += 1
        track.missed = 0
        track.history.append((self.frame, detection.box))
