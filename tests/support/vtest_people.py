"""Real CCTV with people boxed by hand: OpenCV's `vtest.avi` (Debian `opencv-doc`; `.ci/run`
installs it), frames 100, 400 and 700 (the frames and counts of test_detection_vtest.py: 7, 3 and
8 people; in frame 100 one is half hidden behind the sign and one is far away on the upper path).
Frame 100 also shows a white van and a car parked top right. Boxes were drawn by looking at each
frame enlarged with a pixel grid: from the top of the head to the soles, arm to arm."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from privacy.redaction.boxes import Box

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
PEOPLE = {  # x1, y1, x2, y2 in pixels, drawn by hand on the 768x576 frames
    100: [(349, 200, 383, 274), (375, 178, 412, 256), (423, 180, 450, 258),
          (494, 148, 518, 220), (516, 151, 541, 221), (591, 153, 617, 233),
          (223, 62, 238, 94)],
    400: [(273, 202, 301, 287), (590, 142, 618, 203), (687, 300, 743, 410)],
    700: [(102, 286, 143, 396), (184, 166, 212, 239), (281, 211, 309, 294),
          (365, 171, 398, 255), (402, 152, 426, 208), (474, 139, 496, 200),
          (520, 166, 545, 235), (683, 220, 732, 307)],
}
VAN = Box(650, 42, 724, 100)  # frame 100


@pytest.fixture(scope="module")
def frames() -> dict[int, np.ndarray]:
    if not VTEST.exists():
        pytest.fail(f"{VTEST} is missing: apt-get install -y opencv-doc (.ci/run does)")
    capture = cv2.VideoCapture(str(VTEST))
    result = {}
    for index in range(max(PEOPLE) + 1):
        ok, frame = capture.read()
        assert ok, f"vtest.avi ended at frame {index}"
        if index in PEOPLE:
            result[index] = frame
    capture.release()
    return result


HIDDEN = (100, 2)  # frame, index in PEOPLE: the person half hidden behind the sign
