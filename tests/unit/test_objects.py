"""COCO objects with NanoDet (privacy/redaction/objects.py) on real CCTV: OpenCV's `vtest.avi`,
against the person boxes drawn by hand in tests/support/vtest_people.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from privacy import model_registry
from privacy.errors import ModelError
from privacy.redaction.boxes import Box, iou_matrix
from privacy.redaction.objects import COCO_LABELS, ObjectDetector, _expected_distances
from tests.support.vtest_people import PEOPLE, VAN, frames

__all__ = ["frames"]  # the fixture these tests take


@pytest.fixture(scope="module")
def nanodet(model_dir: Path) -> Path:
    return model_registry.model_path("nanodet", model_dir)


def _matched(found: list[Box], truth: list[Box]) -> tuple[int, int]:
    """(true positives, false positives) at IoU 0.5, each hand box matched once."""
    if not found:
        return 0, 0
    iou = iou_matrix(found, truth)
    used: set[int] = set()
    hits = 0
    for row in iou:
        best = int(np.argmax(row))
        if row[best] >= 0.5 and best not in used:
            used.add(best)
            hits += 1
    return hits, len(found) - hits


@pytest.mark.parametrize("size", [320, 416])
def test_people_found_on_real_cctv_match_the_hand_boxes(frames: dict[int, np.ndarray],
                                                        nanodet: Path, size: int) -> None:
    detector = ObjectDetector(nanodet, input_size=size, labels=["person"])
    hits = misses = false = 0
    for index, frame in frames.items():
        people = detector.detect(frame)
        assert all(p.label == "person" and 0.35 <= p.score <= 1 for p in people)
        found, wrong = _matched([p.box for p in people], [Box(*b) for b in PEOPLE[index]])
        hits, false, misses = hits + found, false + wrong, misses + len(PEOPLE[index]) - found
    # measured at the default threshold 0.35: 16 of 18 at 320 with no false person, 17 of 18
    # at 416 with 4 (traffic cones, a rock); the one always missed is half behind the sign
    assert hits >= (15 if size == 320 else 16) and false <= (1 if size == 320 else 5), (
        hits, misses, false)


def test_the_parked_van_is_a_vehicle_in_frame_pixels(frames: dict[int, np.ndarray],
                                                     nanodet: Path) -> None:
    found = ObjectDetector(nanodet).detect(frames[100])
    vehicles = [o for o in found if o.label in ("car", "truck", "bus")]
    assert vehicles and max(float(iou_matrix([v.box for v in vehicles], [VAN]).max()), 0) > 0.6
    height, width = frames[100].shape[:2]
    assert all(0 <= o.box.x1 < o.box.x2 <= width and 0 <= o.box.y1 < o.box.y2 <= height
               for o in found)
    assert {o.label for o in found} <= set(COCO_LABELS)


@pytest.mark.parametrize("resize", ["aspect", "plain", "letterbox"])
def test_a_mirrored_frame_gives_mirrored_boxes(frames: dict[int, np.ndarray], nanodet: Path,
                                               resize: str) -> None:
    """The way back from the model's input to frame pixels (scale, letterbox offset) is right
    when the boxes of the mirrored frame are the mirrored boxes."""
    detector = ObjectDetector(nanodet, resize=resize, labels=["person"])  # type: ignore[arg-type]
    frame = frames[700]
    width = frame.shape[1]
    straight = [p.box for p in detector.detect(frame)]
    mirrored = [Box(width - b.x2, b.y1, width - b.x1, b.y2)
                for b in (p.box for p in detector.detect(frame[:, ::-1].copy()))]
    assert len(straight) >= 6
    assert (iou_matrix(straight, mirrored).max(axis=1) > 0.7).mean() >= 0.8


def test_distances_are_the_expectation_of_each_sides_distribution() -> None:
    logits = np.zeros((2, 44), np.float32)  # uniform: expectation 5 grid units on every side
    logits[1].reshape(4, 11)[np.arange(4), [0, 3, 7, 10]] = 50.0  # certain: 0, 3, 7 and 10
    np.testing.assert_allclose(_expected_distances(logits), [[5, 5, 5, 5], [0, 3, 7, 10]],
                               atol=1e-4)


def test_bad_settings_name_the_fix(nanodet: Path) -> None:
    with pytest.raises(ModelError, match="use a multiple of 32"):
        ObjectDetector(nanodet, input_size=300)
    with pytest.raises(ModelError, match=r"unknown object labels \['people'\]"):
        ObjectDetector(nanodet, labels=["people"])
