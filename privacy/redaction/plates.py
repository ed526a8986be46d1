"""Licence-plate detection as text detection on the frame.

Plates are short lines of large, high-contrast characters, so a scene-text detector finds them
without a plate-specific model (none ships offline here: docs/architecture.md, "Dependency
facts"). We use the PP-OCRv4 text detector, a DBNet (Liao et al., "Real-time Scene Text
Detection with Differentiable Binarization", AAAI 2020), with its standard post-processing:
threshold the probability map, take connected regions, score each by its mean probability, and
grow it by the "unclip" distance ``area * ratio / perimeter`` the network was trained to shrink
text by.

The detector reports text lines, on the whole frame or on one region of it (a vehicle's crop,
upscaled so that a plate 30 px wide reaches the size the network reads best); which lines are
plates is decided from where they are and their shape (:mod:`privacy.redaction.plate_search`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from privacy.model_registry import VerifiedModel
from privacy.onnx_session import cpu_session
from privacy.redaction.boxes import Box, Detection

_MEAN = np.float32(0.5 * 255)
_STD = np.float32(0.5 * 255)


PLATE_PADDING = 0.35  # the text line is ~60% of a plate's height: pad it out to the plate's edges


@dataclass(frozen=True)
class TextLine:
    """A text line in frame pixels (grown by the unclip distance: the line's own extent)."""

    box: Box
    score: float


def plate_box(line: Box, padding: float = PLATE_PADDING) -> Box:
    """The plate around a text line: the line padded by ``padding`` of its height on each side."""
    return line.enlarged(0.0, padding * line.height)


class TextPlateDetector:
    """Detect text lines (licence plates among them) in a BGR frame or a region of it."""

    kind = "plate"

    def __init__(
        self,
        model: Path | VerifiedModel,
        input_width: int | None = 960,
        binary_threshold: float = 0.3,
        box_threshold: float = 0.5,
        unclip_ratio: float = 1.6,
        min_height: int = 5,
        plate_padding: float = PLATE_PADDING,
        threads: int = 1,
    ):
        self._session = cpu_session(model, threads, "plate model")
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()
        self.input_width = input_width
        self.binary_threshold = binary_threshold
        self.box_threshold = box_threshold
        self.unclip_ratio = unclip_ratio
        self.min_height = min_height
        self.plate_padding = plate_padding

    @staticmethod
    def _input_size(width: int, height: int, target_w: float) -> tuple[int, int]:
        target_h = height * target_w / width
        return max(32, round(target_w / 32) * 32), max(32, round(target_h / 32) * 32)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Every text line of the whole frame, padded out to a plate."""
        boxes = [(plate_box(line.box, self.plate_padding), line.score)
                 for line in self.lines(frame)]
        return [Detection("plate", box, score) for box, score in boxes
                if box.height >= self.min_height]

    def lines(self, frame: np.ndarray, region: Box | None = None, input_width: int | None = None,
              max_scale: float = 1.0) -> list[TextLine]:
        """The text lines in ``region`` of the frame (the whole frame if None), in frame pixels.

        The region is resized to ``input_width`` (default: the detector's), upscaled at most
        ``max_scale`` times: the network finds lines whose characters are ~8 px and more.
        """
        height, width = frame.shape[:2]
        if region is None:
            x0, y0, crop = 0, 0, frame
        else:
            rows, cols = region.pixel_slice(width, height)
            x0, y0, crop = cols.start, rows.start, frame[rows, cols]
        ch, cw = crop.shape[:2]
        if ch < 4 or cw < 4:
            return []
        wanted = input_width if input_width is not None else self.input_width
        target = cw if wanted is None else min(float(wanted), cw * max_scale)
        in_w, in_h = self._input_size(cw, ch, target)
        interpolation = cv2.INTER_AREA if in_w < cw else cv2.INTER_LINEAR
        resized = cv2.resize(crop, (in_w, in_h), interpolation=interpolation)
        tensor = ((resized.astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)[None]
        with self._lock:
            probability = self._session.run(None, {self._input: tensor})[0][0, 0]
        return [TextLine(line.box.shifted(x0, y0), line.score)
                for line in self._regions(probability, cw / in_w, ch / in_h)]

    def _regions(self, probability: np.ndarray, sx: float, sy: float) -> list[TextLine]:
        binary: np.ndarray = (probability > self.binary_threshold).astype(np.uint8)
        binary = cv2.dilate(binary, np.ones((2, 2), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
        found = []
        for label in range(1, count):
            x, y, w, h, area = stats[label]
            if min(w, h) < 2:
                continue
            score = float(probability[y:y + h, x:x + w][labels[y:y + h, x:x + w] == label].mean())
            if score < self.box_threshold:
                continue
            grow = area * self.unclip_ratio / (2 * (w + h))
            found.append(TextLine(Box((x - grow) * sx, (y - grow) * sy,
                                      (x + w + grow) * sx, (y + h + grow) * sy), score))
        return found
