"""Licence-plate detection as text detection on the frame.

Plates are short lines of large, high-contrast characters, so a scene-text detector finds them
without a plate-specific model (none ships offline here: docs/architecture.md, "Dependency
facts"). We use the PP-OCRv4 text detector, a DBNet (Liao et al., "Real-time Scene Text
Detection with Differentiable Binarization", AAAI 2020), with its standard post-processing:
threshold the probability map, take connected regions, score each by its mean probability, and
grow it by the "unclip" distance ``area * ratio / perimeter`` the network was trained to shrink
text by.

Any text region is reported: redacting a shop sign costs a little image, missing a plate costs a
person's privacy.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from privacy.errors import ModelError
from privacy.model_registry import VerifiedModel, loadable
from privacy.redaction.boxes import Box, Detection

_MEAN = np.float32(0.5 * 255)
_STD = np.float32(0.5 * 255)


class TextPlateDetector:
    """Detect text regions (licence plates among them) in a BGR frame."""

    kind = "plate"

    def __init__(
        self,
        model: Path | VerifiedModel,
        input_width: int | None = 960,
        binary_threshold: float = 0.3,
        box_threshold: float = 0.5,
        unclip_ratio: float = 1.6,
        min_height: int = 5,
        plate_padding: float = 0.35,
        threads: int = 1,
    ):
        import onnxruntime as ort  # imported here: loading it costs ~0.3 s

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                loadable(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load plate model {model}: {exc}") from None
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()
        self.input_width = input_width
        self.binary_threshold = binary_threshold
        self.box_threshold = box_threshold
        self.unclip_ratio = unclip_ratio
        self.min_height = min_height
        self.plate_padding = plate_padding

    def _input_size(self, width: int, height: int) -> tuple[int, int]:
        target_w = width if self.input_width is None else min(self.input_width, width)
        target_h = height * target_w / width
        return max(32, round(target_w / 32) * 32), max(32, round(target_h / 32) * 32)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        height, width = frame.shape[:2]
        in_w, in_h = self._input_size(width, height)
        resized = cv2.resize(frame, (in_w, in_h), interpolation=cv2.INTER_AREA)
        tensor = ((resized.astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)[None]
        with self._lock:
            probability = self._session.run(None, {self._input: tensor})[0][0, 0]
        return self._regions(probability, width / in_w, height / in_h)

    def _regions(self, probability: np.ndarray, sx: float, sy: float) -> list[Detection]:
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
            # the text line is ~60% of a plate's height: pad it out to the plate's edges
            pad = grow + self.plate_padding * (h + 2 * grow)
            box = Box((x - pad) * sx, (y - pad) * sy, (x + w + pad) * sx, (y + h + pad) * sy)
            if box.height >= self.min_height:
                found.append(Detection("plate", box, score))
        return found
