"""A face box widens over the rest of its head on the side the face is turned away from
(privacy.redaction.head_turn), and CenterFace's decoder does it from its own landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from privacy import model_registry
from privacy.redaction.faces import CenterFaceDetector
from privacy.redaction.head_turn import HEAD_BREADTH, HEAD_LENGTH, head_spans


def _span(x1: float, x2: float, height: float, left_eye: tuple[float, float],
          right_eye: tuple[float, float], nose: tuple[float, float]) -> tuple[float, float]:
    a, b = head_spans(np.array([x1]), np.array([x2]), np.array([height]),
                      np.array([left_eye]), np.array([right_eye]), np.array([nose]))
    return float(a[0]), float(b[0])


def test_a_frontal_face_keeps_about_its_box_both_sides_alike() -> None:
    # a 75x100 face box, eyes level and the nose between them: the head is its breadth wide
    x1, x2 = _span(100, 175, 100, (120, 140), (155, 140), (137.5, 160))
    assert x1 == pytest.approx(137.5 - HEAD_BREADTH * 50)
    assert x2 == pytest.approx(137.5 + HEAD_BREADTH * 50)
    assert 100 - x1 <= 0.08 * 75 and x2 - 175 <= 0.08 * 75  # the ears, no blanket growth


def test_a_face_turned_right_widens_on_the_left_only() -> None:
    # nose 0.6 eye distances right of the eyes' midpoint: about 53 degrees of yaw
    x1, x2 = _span(100, 175, 100, (140, 140), (160, 140), (162, 160))
    assert x2 == 175  # the face side stays the face box
    assert x1 < 100 - 0.4 * 75  # the back of the head: more than 0.4 of the box past it


def test_turning_left_mirrors_turning_right() -> None:
    right = _span(100, 175, 100, (140, 140), (160, 140), (162, 160))
    left = _span(100, 175, 100, (115, 140), (135, 140), (113, 160))
    assert left[1] - 175 == pytest.approx(100 - right[0])
    assert left[0] == 100


def test_a_profile_spans_the_head_length() -> None:
    # the eyes nearly on one another: turned 90 degrees, the head is its length wide
    x1, x2 = _span(100, 150, 100, (140, 140), (140.01, 140), (150, 160))
    assert x2 == pytest.approx(150)
    assert x1 == pytest.approx(150 - HEAD_LENGTH * 100, abs=0.5)


def test_a_tilted_head_is_not_read_as_turned() -> None:
    # a frontal face rolled by 30 degrees: the nose is off the eyes' midpoint in x, but not
    # along the line through the eyes
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    rolled = [(137.5 + dx * c - dy * s, 150 + dx * s + dy * c)
              for dx, dy in ((-17.5, -10), (17.5, -10), (0, 10))]
    x1, x2 = _span(100, 175, 100, *rolled)
    nose_x = rolled[2][0]
    assert x1 == pytest.approx(min(100, nose_x - HEAD_BREADTH * 50))
    assert x2 == pytest.approx(max(175, nose_x + HEAD_BREADTH * 50))


@pytest.fixture(scope="module")
def centerface(model_dir: Path) -> CenterFaceDetector:
    return CenterFaceDetector(model_registry.verified_model("centerface", model_dir))


def _one_turned_face(col: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CenterFace's stride-4 maps holding one face, 80x100 px centred at ((col + 0.5) * 4, 98),
    its landmarks ((y, x) pairs in fractions of the box) with the nose far right of the eyes:
    turned to the image's right."""
    heatmap = np.zeros((1, 1, 64, 64), np.float32)
    scale = np.zeros((1, 2, 64, 64), np.float32)
    offset = np.zeros((1, 2, 64, 64), np.float32)
    landmarks = np.zeros((1, 10, 64, 64), np.float32)
    row = 24
    heatmap[0, 0, row, col] = 0.9
    scale[0, :, row, col] = np.log([100 / 4, 80 / 4])
    for i, (y, x) in enumerate([(0.35, 0.55), (0.35, 0.8), (0.6, 0.95), (0.8, 0.6), (0.8, 0.8)]):
        landmarks[0, 2 * i, row, col], landmarks[0, 2 * i + 1, row, col] = y, x
    return heatmap, scale, offset, landmarks


def test_the_decoder_widens_a_turned_face_from_its_own_landmarks(
        centerface: CenterFaceDetector) -> None:
    [face] = centerface._decode(*_one_turned_face(col=19), 256, 1.0, 1.0)  # face x 38..118
    assert face.box.x2 == pytest.approx(38 + 80)  # the face side: the box as detected
    assert face.box.y1 == pytest.approx(48) and face.box.y2 == pytest.approx(148)
    assert face.box.x1 < 38 - 0.3 * 80  # the back of the head, left of the face


def test_the_widening_stops_at_the_frames_edge(centerface: CenterFaceDetector) -> None:
    [face] = centerface._decode(*_one_turned_face(col=11), 256, 1.0, 1.0)  # face x 6..86
    assert face.box.x1 == 0.0 and face.box.x2 == pytest.approx(86)
