"""Finding people and vehicles on a camera's raw frames, in memory, at the node.

Behind one interface (``detect(frame) -> list[Detection]``, boxes in pixels):

- ``MotionBlobs``: the cheap default. MOG2 background subtraction (Zivkovic, "Improved Adaptive
  Gaussian Mixture Model for Background Subtraction", ICPR 2004) at reduced resolution, shadows
  dropped, small holes closed; each moving blob is classified by its shape (upright: a person,
  wide and large: a vehicle). Blobs of people walking together merge; the tracker and the rules
  tolerate that, the counts below show its size.
- ``HogPeople``: OpenCV's HOG + linear SVM people detector (Dalal and Triggs, CVPR 2005), slower,
  better at separating people side by side; run it on frames the motion gate lets through.
- ``OnnxDetector``: a site's own detector in ONNX with YOLO-style output (1, 4 + classes, N).

``MotionGate`` tells whether anything moves at all, so the expensive detectors can sleep.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from nodes.analytics.tracker import Detection


class Detector(Protocol):
    def detect(self, frame: np.ndarray) -> list[Detection]: ...


class MotionGate:
    def __init__(self, width: int = 384, history: int = 200, threshold: float = 25.0,
                 min_fraction: float = 0.0005):
        self.width = width
        self.min_fraction = min_fraction
        self._model = cv2.createBackgroundSubtractorMOG2(history=history,
                                                         varThreshold=threshold,
                                                         detectShadows=True)
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 9))
        self.scale = 1.0

    def mask(self, frame: np.ndarray) -> np.ndarray:
        """The foreground (moving, not shadow) at the gate's resolution."""
        height, width = frame.shape[:2]
        self.scale = width / self.width
        small = cv2.resize(frame, (self.width, max(1, round(height / self.scale))),
                           interpolation=cv2.INTER_AREA)
        foreground = np.where(self._model.apply(small) == 255, 255, 0).astype(np.uint8)
        foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, self._open)
        return cv2.morphologyEx(foreground, cv2.MORPH_CLOSE, self._close)

    def moving(self, mask: np.ndarray) -> bool:
        return bool(np.count_nonzero(mask) >= self.min_fraction * mask.size)


class MotionBlobs:
    def __init__(self, gate: MotionGate | None = None, min_area: int = 60):
        self.gate = gate or MotionGate()
        self.min_area = min_area

    def detect(self, frame: np.ndarray) -> list[Detection]:
        mask = self.gate.mask(frame)
        if not self.gate.moving(mask):
            return []
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        found = []
        s = self.gate.scale
        for x, y, w, h, area in stats[1:count]:
            if area < self.min_area:
                continue
            kind = "person" if h >= 1.1 * w else "vehicle" if w * h >= 40 * self.min_area \
                else "object"
            fill = area / float(w * h)
            found.append(Detection((x * s, y * s, (x + w) * s, (y + h) * s),
                                   float(min(1.0, 0.4 + fill)), kind))
        return found


class HogPeople:
    def __init__(self, upscale: float = 1.6, min_weight: float = 1.0):
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.upscale = upscale  # the detector's window is 64x128: people under ~100 px need it
        self.min_weight = min_weight

    def detect(self, frame: np.ndarray) -> list[Detection]:
        big = cv2.resize(frame, None, fx=self.upscale, fy=self.upscale)
        rects, weights = self._hog.detectMultiScale(big, winStride=(8, 8), padding=(8, 8),
                                                    scale=1.05)
        u = self.upscale
        return [Detection((x / u, y / u, (x + w) / u, (y + h) / u),
                          float(1 / (1 + np.exp(-(weight - self.min_weight) * 2))), "person")
                for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=True)
                if weight >= self.min_weight]


class OnnxDetector:
    """A YOLO-style ONNX model (one output (1, 4 + classes, N): centre x, centre y, width,
    height in input pixels, then class scores); ``classes`` maps class index to our kinds."""

    def __init__(self, model: str, classes: dict[int, str], size: int = 640,
                 threshold: float = 0.4, nms: float = 0.5):
        self._net = cv2.dnn.readNetFromONNX(model)
        self.classes, self.size, self.threshold, self.nms = classes, size, threshold, nms

    def detect(self, frame: np.ndarray) -> list[Detection]:
        height, width = frame.shape[:2]
        blob = cv2.dnn.blobFromImage(frame, 1 / 255.0, (self.size, self.size), swapRB=True)
        self._net.setInput(blob)
        output = self._net.forward()[0].T  # (N, 4 + classes)
        scores = output[:, 4:]
        best = scores.argmax(axis=1)
        confidence = scores[np.arange(len(best)), best]
        keep = [i for i in np.flatnonzero(confidence >= self.threshold)
                if int(best[i]) in self.classes]
        sx, sy = width / self.size, height / self.size
        boxes = [[float((output[i, 0] - output[i, 2] / 2) * sx),
                  float((output[i, 1] - output[i, 3] / 2) * sy),
                  float(output[i, 2] * sx), float(output[i, 3] * sy)] for i in keep]
        chosen = cv2.dnn.NMSBoxes(boxes, [float(confidence[i]) for i in keep], self.threshold,
                                  self.nms)
        return [Detection((boxes[j][0], boxes[j][1], boxes[j][0] + boxes[j][2],
                           boxes[j][1] + boxes[j][3]), float(confidence[keep[j]]),
                          self.classes[int(best[keep[j]])]) for j in np.ravel(chosen)]
