"""Pictures from nodes must be plain sequential JPEGs, checked from their markers before any
decoder runs: a progressive JPEG repeating a scan thousands of times costs seconds per picture
(red team 2, redteam/clip_jpeg_scan_bomb.py)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from kernel.jpeg_scans import MAX_SCANS, sequential_problem

pytestmark = pytest.mark.unit


def picture(channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(7)
    shape = (120, 160, channels) if channels > 1 else (120, 160)
    return rng.integers(0, 255, shape, np.uint8)


def cv2_jpeg(image: np.ndarray, *options: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, list(options))
    assert ok
    return data.tobytes()


def many_scans(count: int) -> bytes:
    """A progressive JPEG whose last refinement scan is repeated, as the red team built it."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(buffer, "JPEG", quality=10,
                                                            progressive=True)
    plain = buffer.getvalue()
    start = plain.rindex(b"\xff\xda")
    return plain[:-2] + plain[start:-2] * count + b"\xff\xd9"


@pytest.mark.parametrize("data", [
    cv2_jpeg(picture(), cv2.IMWRITE_JPEG_QUALITY, 80),  # what nodes/evidence.py writes
    cv2_jpeg(picture(1), cv2.IMWRITE_JPEG_QUALITY, 30),
    cv2_jpeg(picture(), cv2.IMWRITE_JPEG_RST_INTERVAL, 2),  # restart markers inside the scan
    cv2_jpeg(np.zeros((16, 16, 3), np.uint8)),  # almost all stuffed/flat entropy data
], ids=["colour", "grey", "restarts", "flat"])
def test_a_baseline_jpeg_passes(data: bytes) -> None:
    assert sequential_problem(data) is None


def test_pillow_baseline_with_fill_bytes_passes() -> None:
    buffer = io.BytesIO()
    Image.fromarray(picture()).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    assert sequential_problem(data) is None
    assert sequential_problem(data[:2] + b"\xff\xff" + data[2:]) is None


def test_a_progressive_jpeg_is_refused() -> None:
    data = cv2_jpeg(picture(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
    assert "not a baseline" in str(sequential_problem(data))


def test_a_many_scan_jpeg_is_refused_even_as_baseline() -> None:
    bomb = many_scans(500)
    assert "not a baseline" in str(sequential_problem(bomb))
    # the same scans under a baseline frame header: refused by their count
    as_baseline = bomb.replace(b"\xff\xc2", b"\xff\xc0", 1)
    assert sequential_problem(as_baseline) == f"has more than {MAX_SCANS} scans"


@pytest.mark.parametrize("damage", [
    lambda d: d[:-2],  # no EOI
    lambda d: d[:len(d) // 2],  # ends inside the scan
    lambda d: d + b"junk",  # bytes after the end
    lambda d: d[2:],  # no SOI
    lambda d: d[:2] + b"\x00" + d[2:],  # a stray byte between segments
    lambda d: d[:2] + b"\xff\xe0\xff\xff" + d[2:],  # a segment longer than the file
    lambda d: d[:d.index(b"\xff\xc0")] + d[d.index(b"\xff\xda"):],  # scan before frame
    lambda d: b"\xff\xd8\xff\xd9",  # no scan at all
], ids=["no-eoi", "cut", "trailing", "no-soi", "stray", "long-segment", "no-frame", "empty"])
def test_a_malformed_marker_stream_is_refused(damage: object) -> None:
    data = cv2_jpeg(picture(), cv2.IMWRITE_JPEG_QUALITY, 80)
    assert callable(damage)
    assert sequential_problem(damage(data)) is not None


def test_two_frame_headers_are_refused() -> None:
    data = cv2_jpeg(picture(), cv2.IMWRITE_JPEG_QUALITY, 80)
    sof = data.index(b"\xff\xc0")
    length = int.from_bytes(data[sof + 2:sof + 4], "big")
    twice = data[:sof] + data[sof:sof + 2 + length] * 2 + data[sof + 2 + length:]
    assert sequential_problem(twice) == "has more than one frame header"
