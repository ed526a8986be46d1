"""The ByteTrack-style tracker on scripted trajectories with noisy, missing and weak detections
(known ground truth), scored with CLEAR MOT."""

from __future__ import annotations

import random

from nodes.analytics.tracker import ByteTracker, Detection
from simulation.accuracy import clear_mot


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


def _ids_of(tracker: ByteTracker, frames: list[list[Detection]]) -> list[dict[int, float]]:
    """Per frame: track id -> box centre x."""
    return [{t.track_id: (t.box[0] + t.box[2]) / 2 for t in tracker.update(d)} for d in frames]


def test_two_people_merging_into_one_blob_come_out_with_their_own_identities() -> None:
    frames = []
    for f in range(40):
        a, b = 100 + 8 * f, 420 - 8 * f  # walking towards each other, passing at f ~ 20
        if abs(a - b) < 30:  # one blob around both (motion blobs merge them)
            frames.append([Detection((min(a, b), 100, max(a, b) + 30, 180), 0.9)])
        else:
            frames.append([Detection((a, 100, a + 30, 180), 0.9),
                           Detection((b, 100, b + 30, 180), 0.9)])
    seen = _ids_of(ByteTracker(max_age=10), frames)
    before, after = seen[10], seen[35]
    left_before = min(before, key=before.get)
    right_after = max(after, key=after.get)
    assert set(before) == set(after) and left_before == right_after  # A went on to the right


def test_a_fast_mover_jumping_more_than_its_width_keeps_one_track() -> None:
    frames = [[Detection((10 + 45 * f, 100, 40 + 45 * f, 180), 0.9)] for f in range(12)]
    seen = _ids_of(ByteTracker(max_age=10), frames)
    assert {i for s in seen for i in s} == {1} and all(seen[1:])


def test_a_track_keeps_the_kind_its_detections_mostly_have() -> None:
    tracker = ByteTracker(max_age=10)
    for f in range(6):  # a car entering the frame looks like an "object" at first
        kind = "object" if f < 2 else "vehicle"
        tracks = tracker.update([Detection((5 * f, 100, 5 * f + 160, 150), 0.9, kind)])
    assert [t.kind for t in tracks] == ["vehicle"] and tracks[0].track_id == 1


def _walk(start: float, frames: int, score: float) -> list[list[Detection]]:
    """One person walking right 3 px a frame, one detection a frame at ``score``."""
    return [[Detection((start + 3 * f, 50, start + 3 * f + 30, 130), score)]
            for f in range(frames)]


def test_faint_detections_continue_a_confirmed_track_through_an_occlusion() -> None:
    # seen clearly for 5 frames, then half hidden: scoring 0.15, under the weak band (0.25)
    seen, hidden = _walk(0, 5, 0.9), _walk(15, 8, 0.15)
    for faint, expected in ((0.1, [1] * 8), (None, [])):
        tracker = ByteTracker(high=0.4, low=0.25, faint=faint)
        for detections in seen:
            tracker.update(detections)
        through = [t.track_id for d in hidden for t in tracker.update(d)]
        assert through == expected, faint


def test_faint_detections_neither_start_nor_keep_an_unconfirmed_track() -> None:
    tracker = ByteTracker(high=0.4, low=0.25, faint=0.1)
    for detections in _walk(0, 10, 0.15):
        assert tracker.update(detections) == []
    assert tracker.tracks == []
    # one confident sighting (not yet confirmed at min_hits 2), then only faint ones
    tracker.update(_walk(100, 1, 0.9)[0])
    for detections in _walk(103, 3, 0.15):
        assert tracker.update(detections) == []
    assert [t.missed for t in tracker.tracks] == [3]


def test_a_faint_detection_beside_the_prediction_does_not_continue_the_track() -> None:
    tracker = ByteTracker(high=0.4, low=0.25, faint=0.1)
    for detections in _walk(0, 5, 0.9):
        tracker.update(detections)
    # the prediction is at x 15..45; a faint box at x 30..60 overlaps it at IoU 1/3 (< 0.5),
    # which a weak (0.3) box would still continue (match_iou 0.2)
    assert tracker.update([Detection((30, 50, 60, 130), 0.15)]) == []
    assert [t.track_id for t in tracker.update([Detection((36, 50, 66, 130), 0.3)])] == [1]
