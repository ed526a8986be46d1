"""People found on real CCTV: OpenCV's `vtest.avi` (Debian `opencv-doc`; `.ci/run` installs it),
against counts made by hand from the frames below (looking at each frame: frame 100 has 7 people,
one half hidden behind the sign and one far away on the upper path; frame 400 has 3; frame 700
has 8)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from nodes.analytics.detection import HogPeople, MotionBlobs

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
HAND_COUNT = {100: 7, 400: 3, 700: 8}


@pytest.fixture(scope="module")
def frames() -> dict[int, object]:
    if not VTEST.exists():
        pytest.fail(f"{VTEST} is missing: apt-get install -y opencv-doc (.ci/run does)")
    capture = cv2.VideoCapture(str(VTEST))
    blobs = MotionBlobs()
    result = {}
    for index in range(max(HAND_COUNT) + 1):
        ok, frame = capture.read()
        assert ok, f"vtest.avi ended at frame {index}"
        people = [d for d in blobs.detect(frame) if d.kind == "person"]
        if index in HAND_COUNT:
            result[index] = (frame, people)
    capture.release()
    return result


def test_motion_blobs_count_people_close_to_the_hand_count(frames) -> None:  # type: ignore[no-untyped-def]
    for index, expected in HAND_COUNT.items():
        _, people = frames[index]
        assert expected - 2 <= len(people) <= expected, (index, len(people))
    assert len(frames[400][1]) == 3 and len(frames[700][1]) == 8  # nobody walking together


def test_hog_finds_the_people_standing_apart(frames) -> None:  # type: ignore[no-untyped-def]
    for index, expected in HAND_COUNT.items():
        frame, _ = frames[index]
        found = HogPeople().detect(frame)
        assert expected - 2 <= len(found) <= expected, (index, len(found))
