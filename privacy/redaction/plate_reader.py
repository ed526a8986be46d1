"""Reading a licence plate's characters from the raw frame, before the plate is blurred.

PP-OCRv4's text recogniser (an SVTR-LCNet network trained with CTC; Du et al., "SVTR: Scene Text
Recognition with a Single Visual Model", IJCAI 2022) reads the plate crop; greedy CTC decoding
keeps the best character per time step, merges repeats and drops blanks. Only letters and
digits survive, and only a reading that normalizes to a plate and clears the confidence floor is
returned: a wrong reading would put a wrong keyed hash in the sightings.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from privacy.errors import ModelError
from privacy.model_registry import VerifiedModel
from privacy.onnx_session import cpu_session
from privacy.plates import PlateError, normalize
from privacy.redaction.boxes import Box

HEIGHT, MAX_WIDTH = 48, 320
_ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@dataclass(frozen=True)
class Reading:
    plate: str
    confidence: float


class PlateReader:
    def __init__(self, model: Path | VerifiedModel, min_confidence: float = 0.8, threads: int = 1):
        self._session = cpu_session(model, threads, "plate reader")
        try:
            characters = self._session.get_modelmeta().custom_metadata_map["character"]
        except KeyError:
            raise ModelError(f"cannot load plate reader {model}: no character list") from None
        # index 0 is the CTC blank; the model's character list, then the space it was trained with
        self._alphabet = ["", *characters.splitlines(), " "]
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()
        self.min_confidence = min_confidence

    def read(self, frame: np.ndarray, box: Box) -> Reading | None:
        height, width = frame.shape[:2]
        x1, y1 = max(0, int(box.x1)), max(0, int(box.y1))
        x2, y2 = min(width, math.ceil(box.x2)), min(height, math.ceil(box.y2))
        if x2 - x1 < 8 or y2 - y1 < 6:
            return None
        with self._lock:
            outputs = self._session.run(None, {self._input: _tensor(frame[y1:y2, x1:x2])})
        probabilities = outputs[0][0]
        return self._decode(probabilities)

    def _decode(self, probabilities: np.ndarray) -> Reading | None:
        best = probabilities.argmax(axis=1)
        scores = probabilities.max(axis=1)
        text, confidences, previous = [], [], 0
        for index, score in zip(best, scores, strict=True):
            if index not in (previous, 0):
                character = self._alphabet[index].upper() if index < len(self._alphabet) else ""
                if character in _ALLOWED:
                    text.append(character)
                    confidences.append(float(score))
            previous = index
        if not confidences:
            return None
        confidence = float(np.mean(confidences))
        try:
            plate = normalize("".join(text))
        except PlateError:
            return None
        return Reading(plate, confidence) if confidence >= self.min_confidence else None


def _tensor(crop: np.ndarray) -> np.ndarray:
    """Resize to the recogniser's 48-pixel height, scale to [-1, 1], pad right to 320."""
    h, w = crop.shape[:2]
    resized_w = min(MAX_WIDTH, max(1, math.ceil(HEIGHT * w / h)))
    image = cv2.resize(crop, (resized_w, HEIGHT)).astype(np.float32)
    image = (image.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    padded = np.zeros((3, HEIGHT, MAX_WIDTH), np.float32)
    padded[:, :, :resized_w] = image
    return padded[np.newaxis]
