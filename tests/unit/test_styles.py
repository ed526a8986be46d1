from __future__ import annotations

import numpy as np
import pytest

from privacy.redaction.boxes import Box
from privacy.redaction.policy import Shape, Style
from privacy.redaction.styles import redact


@pytest.fixture
def textured() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)


def test_fill_leaves_no_original_pixel(textured: np.ndarray) -> None:
    frame = textured.copy()
    box = Box(10.4, 20.6, 70.2, 90.9)
    redact(frame, box, Style.FILL, colour=(1, 2, 3))
    rows, cols = box.pixel_slice(160, 120)
    assert (frame[rows, cols] == (1, 2, 3)).all()
    outside = np.ones((120, 160), bool)
    outside[rows, cols] = False
    assert (frame[outside] == textured[outside]).all()


def test_pixelate_keeps_at_most_four_cells_across(textured: np.ndarray) -> None:
    frame = textured.copy()
    redact(frame, Box(0, 0, 160, 120), Style.PIXELATE)
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) <= 4 * 3


def test_blur_removes_detail(textured: np.ndarray) -> None:
    frame = textured.copy()
    redact(frame, Box(0, 0, 160, 120), Style.BLUR)
    assert frame.astype(float).std() < textured.astype(float).std() / 5


def test_ellipse_covers_the_centre_and_spares_corners(textured: np.ndarray) -> None:
    frame = textured.copy()
    redact(frame, Box(0, 0, 160, 120), Style.FILL, Shape.ELLIPSE, (0, 0, 0))
    assert (frame[60, 80] == 0).all()
    assert (frame[0, 0] == textured[0, 0]).all()


def test_box_outside_the_frame_is_harmless(textured: np.ndarray) -> None:
    frame = textured.copy()
    redact(frame, Box(-50, -50, -10, -10), Style.FILL)
    redact(frame, Box(150, 110, 400, 400), Style.FILL, colour=(9, 9, 9))
    assert (frame[110:, 150:] == 9).all()
