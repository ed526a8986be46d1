"""The ByteTrack-style tracker on scripted trajectories with noisy, missing and weak detections
(known ground truth), scored with CLEAR MOT."""

from __future__ import annotations

import random

from nodes.analytics.metrics import clear_mot
from nodes.analytics.tracker import ByteTracker, Detection


def scene(frames: int = 120, seed: int = 0):  # type: ignore[no-untyped-def]
    """Four people, two of whom cross paths; boxes in pixels of a 640x360 frame."""
    rng = random.Random(seed)
    paths = {1: ((20, 200), (4.0, 0.0)), 2: ((600, 210), (-4.0, 0.0)),
             3: ((100, 80), (2.0, 0.5)), 4: ((400, 60), (0.0, 1.5))}
    truth, detections = [], []
    for frame in range(frames):
        gt, found = {}, []
        for obj, ((x0, y0), (vx, vy)) in paths.items():
            x, y = x0 + vx * frame, y0 + vy * frame
            box = (x, y, x + 30, y + 80)
            gt[obj] = box
            roll = rng.random()
            if roll < 0.08:
                continue  # missed by the detector
            jitter = tuple(v + rng.uniform(-2, 2) for v in box)
            # a person half hidden gives a weak detection, as when the two walkers cross
            crossing = obj in (1, 2) and abs((x0 + vx * frame) - 310) < 40
            found.append(Detection(jitter, 0.3 if crossing or roll < 0.15 else 0.9))  # type: ignore[arg-type]
        if rng.random() < 0.05:
            found.append(Detection((rng.uniform(0, 600), rng.uniform(0, 300), 0, 0), 0.6))
        truth.append(gt)
        detections.append(found)
    return truth, detections


def test_tracks_keep_their_identity_through_misses_weak_detections_and_crossings() -> None:
    truth, detections = scene()
    tracker = ByteTracker()
    hypotheses = [{t.track_id: t.box for t in tracker.update(d)} for d in detections]
    score = clear_mot(truth, hypotheses)
    assert score.mota >= 0.85, score
    assert score.switches <= 1, score


def test_weak_detections_alone_never_start_a_track() -> None:
    tracker = ByteTracker()
    for _ in range(10):
        assert tracker.update([Detection((10, 10, 40, 90), 0.3)]) == []
    assert tracker.tracks == []


def test_clear_mot_counts_switches_misses_and_false_positives() -> None:
    a, b = (0, 0, 10, 10), (50, 50, 60, 60)
    truth = [{1: a, 2: b}, {1: a, 2: b}, {1: a, 2: b}]
    hypotheses = [{7: a, 8: b}, {9: a}, {7: a, 8: b, 5: (90, 90, 95, 95)}]
    score = clear_mot(truth, hypotheses)
    assert (score.misses, score.false_positives, score.switches) == (1, 1, 2)
    assert score.mota == 1 - 4 / 6
