"""Face matching for warrant- or consent-scoped watchlist searches, and for nothing else.

dlib's ResNet face descriptor (128-d; 99.38% on the LFW benchmark) after 5-point alignment. Two
faces match when their descriptors lie closer than ``threshold`` in Euclidean distance (dlib's
published operating point is 0.6; the default here is stricter). Descriptors live in memory for
one search only: no face is embedded in normal operation and none is ever stored.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from privacy import model_registry
from privacy.errors import ModelError
from privacy.redaction.boxes import Box

DEFAULT_THRESHOLD = 0.5


class FaceMatcher:
    def __init__(self, model_dir: Path, threshold: float = DEFAULT_THRESHOLD):
        try:
            import dlib
        except ImportError:  # pragma: no cover - dlib-bin is a dependency
            raise ModelError("face matching needs dlib (the dlib-bin package)") from None
        try:
            self._aligner = dlib.shape_predictor(str(model_registry.model_path(
                "dlib-shape-predictor-5", model_dir)))
            self._describer = dlib.face_recognition_model_v1(str(model_registry.model_path(
                "dlib-face-recognition", model_dir)))
        except RuntimeError as exc:
            raise ModelError(f"cannot load the face matching models: {exc}") from None
        self._rectangle = dlib.rectangle
        self._lock = threading.Lock()
        self.threshold = threshold

    def describe(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The descriptor of the face in ``box`` of a BGR (or grey) image."""
        rgb = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        rgb = np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB))
        rect = self._rectangle(int(box.x1), int(box.y1), int(box.x2), int(box.y2))
        with self._lock:
            shape = self._aligner(rgb, rect)
            return np.asarray(self._describer.compute_face_descriptor(rgb, shape), np.float32)

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a - b))

    def matches(self, a: np.ndarray, b: np.ndarray) -> bool:
        return self.distance(a, b) < self.threshold
