"""A JPEG's stated size read from its header (ITU-T T.81 B.2.2), and pictures from nodes refused
on it before any decoder allocates for them (red team F3: a 192 kB JPEG stating 7000x7000)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from kernel.jpeg_size import jpeg_size

pytestmark = pytest.mark.unit


def encoded(width: int, height: int, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, "JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("options", [{}, {"progressive": True, "optimize": True},
                                     {"quality": 5}])
def test_the_stated_size_is_the_decoded_size(options: dict[str, object]) -> None:
    data = encoded(640, 360, **options)
    assert jpeg_size(data) == (640, 360)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape[:2] == (360, 640)


def test_opencv_encoded_colour_pictures_with_exif_like_segments_are_read() -> None:
    ok, data = cv2.imencode(".jpg", np.zeros((123, 457, 3), np.uint8))
    assert ok
    body = bytes(data)
    padded = body[:2] + b"\xff\xe1\x00\x10" + b"x" * 14 + b"\xff" + body[2:]  # APP1, a fill byte
    assert jpeg_size(body) == jpeg_size(padded) == (457, 123)


def test_a_small_file_stating_a_huge_frame_is_read_without_decoding() -> None:
    bomb = encoded(7000, 7000, progressive=True, optimize=True, quality=50)
    assert len(bomb) < 250_000 and jpeg_size(bomb) == (7000, 7000)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"GIF89a", b"\xff\xd8\xff\xda\x00\x08",
                                  b"\xff\xd8\xff\xc0\x00\x11\x08", b"\xff\xd8\x00\x00\x00\x00",
                                  b"\xff\xd8\xff\xe0\x00\x01\x00\x00"])
def test_what_is_not_a_jpeg_frame_header_has_no_size(data: bytes) -> None:
    assert jpeg_size(data) is None
