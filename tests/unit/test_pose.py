"""One person's pose with BlazePose lite (nodes/analytics/pose.py) on real CCTV: the people boxed
by hand on `vtest.avi` (tests/support/vtest_people.py), 15 to 110 pixels tall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nodes.analytics.pose import KEYPOINT_NAMES, Pose, PoseEstimator
from privacy import model_registry
from privacy.errors import ModelError
from privacy.redaction.boxes import Box
from tests.support.vtest_people import HIDDEN, PEOPLE, frames

__all__ = ["frames"]  # the fixture these tests take


@pytest.fixture(scope="module")
def estimator(model_dir: Path) -> PoseEstimator:
    return PoseEstimator(model_registry.model_path("blazepose-lite", model_dir))


def _where(pose: Pose, box: Box, name: str) -> tuple[float, float]:
    """A keypoint's place in the hand box: 0..1 from left to right, from head to feet."""
    point = pose.keypoint(name)
    return (point.x - box.x1) / box.width, (point.y - box.y1) / box.height


def test_keypoints_sit_where_the_body_is(frames: dict[int, np.ndarray],
                                         estimator: PoseEstimator) -> None:
    """For every visible person: a person is present, the nose is in the top quarter of the
    hand box, shoulders above hips above knees above ankles, ankles in the bottom quarter, all
    within the box's width (with a quarter of slack for arms and stride)."""
    checked = 0
    for index, boxes in PEOPLE.items():
        for number, hand_box in enumerate(boxes):
            if (index, number) == HIDDEN:
                continue
            box = Box(*hand_box)
            pose = estimator.estimate(frames[index], box)
            assert len(pose.keypoints) == len(KEYPOINT_NAMES) == 33
            assert pose.presence > 0.5, (index, box, pose.presence)
            assert _where(pose, box, "nose")[1] < 0.25, (index, box)
            for side in ("left", "right"):
                heights = [_where(pose, box, f"{side}_{part}")[1]
                           for part in ("shoulder", "hip", "knee", "ankle")]
                assert heights == sorted(heights), (index, box, side, heights)
                assert heights[-1] > 0.75, (index, box, side)
            assert all(-0.25 < _where(pose, box, name)[0] < 1.25 for name in KEYPOINT_NAMES)
            checked += 1
    assert checked == 17


def test_an_empty_crop_holds_no_person(frames: dict[int, np.ndarray],
                                       estimator: PoseEstimator) -> None:
    pose = estimator.estimate(frames[400], Box(300, 420, 340, 500))  # bare lawn
    assert pose.presence < 0.1


def test_keypoints_are_in_frame_pixels(frames: dict[int, np.ndarray],
                                       estimator: PoseEstimator) -> None:
    """The same person in a frame shifted by (60, 40) pixels: the same keypoints, shifted."""
    frame = frames[700]
    box = Box(*PEOPLE[700][0])
    shifted = np.pad(frame, ((40, 0), (60, 0), (0, 0)))
    straight = estimator.estimate(frame, box)
    moved = estimator.estimate(shifted, box.shifted(60, 40))
    for a, b in zip(straight.keypoints, moved.keypoints, strict=True):
        assert abs(b.x - a.x - 60) < 0.5 and abs(b.y - a.y - 40) < 0.5, a.name
    assert moved.crop == straight.crop.shifted(60, 40)
    side = max(box.width, box.height) * 1.25
    assert straight.crop.width == pytest.approx(side) == straight.crop.height


def test_a_margin_below_the_box_is_refused(model_dir: Path) -> None:
    with pytest.raises(ModelError, match=r"use 1\.0 or more"):
        PoseEstimator(model_registry.model_path("blazepose-lite", model_dir), margin=0.8)
