"""How a region is hidden: solid fill, pixelation or strong blur, as a rectangle or an ellipse.

Blurred and pixelated faces can be re-identified by a network 50-95% of the time (McPherson,
Shokri and Shmatikov, "Defeating Image Obfuscation with Deep Learning", 2016), so the default is a
solid fill, and the blur and mosaic are made strong enough that no facial detail survives: the
blur is a box blur whose kernel is half the region's size, the mosaic has at most 4 cells across.
"""

from __future__ import annotations

import cv2
import numpy as np

from privacy.redaction.boxes import Box
from privacy.redaction.policy import Shape, Style


def _obscured(region: np.ndarray, style: Style, colour: tuple[int, int, int]) -> np.ndarray:
    h, w = region.shape[:2]
    if style is Style.FILL:
        return np.broadcast_to(np.asarray(colour, np.uint8), region.shape)
    if style is Style.PIXELATE:
        cells = max(1, min(4, w // 8, h // 8))
        small = cv2.resize(region, (cells, max(1, round(cells * h / w))),
                           interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(3, (max(w, h) // 2) | 1)
    blurred = cv2.blur(region, (k, k))
    return cv2.blur(blurred, (k, k))  # two passes of a box blur approximate a wide Gaussian


def redact(
    frame: np.ndarray,
    box: Box,
    style: Style = Style.FILL,
    shape: Shape = Shape.RECTANGLE,
    colour: tuple[int, int, int] = (0, 0, 0),
) -> None:
    """Hide ``box`` in ``frame`` in place."""
    height, width = frame.shape[:2]
    rows, cols = box.pixel_slice(width, height)
    region = frame[rows, cols]
    if region.size == 0:
        return
    replacement = _obscured(region, style, colour)
    if shape is Shape.RECTANGLE:
        region[...] = replacement
        return
    h, w = region.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (max(1, w // 2), max(1, h // 2)), 0, 0, 360, 255, -1)
    np.copyto(region, replacement, where=mask[..., None].astype(bool))
