"""Finding people and vehicles on a camera's raw frames, in memory, at the node.

Behind one interface (``detect(frame) -> list[Detection]``, boxes in pixels):

- ``MotionBlobs``: the cheap default. MOG2 background subtraction (Zivkovic, "Improved Adaptive
  Gaussian Mixture Model for Background Subtraction", ICPR 2004) at reduced resolution, shadows
  dropped, small holes closed; each moving blob is classified by its shape (upright: a person,
  wide and large: a vehicle). Blobs of people walking together merge; the tracker and the rules
  tolerate that, the counts below show its size.
- ``HogPeople``: OpenCV's HOG + linear SVM people detector (Dalal and Triggs, CVPR 2005), slower,
  better at separating people side by side; run it on frames the motion gate lets through.

A site's own ONNX detector plugs in behind the same interface (to come, with a test model).

``MotionGate`` tells whether anything moves at all, so the expensive detectors can sleep. After
a few seconds' warm-up at MOG2's own (fast) pace, it learns the background slowly (MOG2 absorbs a still object after about
0.1 / learning-rate frames), so a left bag, a parked car or a person standing still stays
foreground for ``static_seconds``: long enough for the dwell rules to see it. The price is a
"ghost" of the same length where a long-still object leaves.
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
                 min_fraction: float = 0.0005, fps: float = 25.0,
                 static_seconds: float | None = 60.0, warmup_seconds: float = 3.0):
        self.width = width
        self.min_fraction = min_fraction
        self.warmup = int(fps * warmup_seconds)
        self._frames = 0
        self._rate = -1.0 if static_seconds is None else 0.1 / (static_seconds * fps)
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
        rate = -1.0 if self._frames < self.warmup else self._rate  # -1: MOG2's own pace
        self._frames += 1
        foreground = np.where(self._model.apply(small, learningRate=rate) == 255,
                              255, 0).astype(np.uint8)
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
