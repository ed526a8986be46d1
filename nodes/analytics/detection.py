"""Finding people and vehicles on a camera's raw frames, in memory, at the node.

Behind one interface (``detect(frame) -> list[Detection]``, boxes in pixels):

- ``CocoObjects``: the default. NanoDet (RangiLyu, 2020; COCO's 80 classes), loaded from the
  model cache and shared with redaction (``privacy.redaction.objects``), its COCO labels mapped
  to the kinds the rules use (``KINDS``); the label itself travels with each detection for the
  rules that need it (weapons). Run behind the motion gate at the camera's analysis rate.
- ``MotionBlobs``: the cheap default. MOG2 background subtraction (Zivkovic, "Improved Adaptive
  Gaussian Mixture Model for Background Subtraction", ICPR 2004) at reduced resolution, shadows
  dropped, small holes closed; each moving blob is classified by its shape (upright: a person,
  wide and large: a vehicle). Blobs of people walking together merge; the tracker and the rules
  tolerate that, the counts below show its size.
- ``HogPeople``: OpenCV's HOG + linear SVM people detector (Dalal and Triggs, CVPR 2005), slower,
  better at separating people side by side; run it on frames the motion gate lets through.

- ``OnnxDetector``: a site's own model, run with onnxruntime on the CPU. Contract: one input,
  float32 NCHW ``[1, 3, H, W]`` (RGB, 0..1, H and W fixed by the model; frames are resized to
  it); first output ``[N, 6]`` or ``[1, N, 6]``, rows ``x1, y1, x2, y2, score, class`` with the
  box in input pixels and ``class`` an index into the configured kinds.
- ``Gated``: any of these behind the motion gate, so it runs only when something moves.

``MotionGate`` tells whether anything moves at all, so the expensive detectors can sleep. After
a few seconds' warm-up at MOG2's own (fast) pace, it learns the background slowly (MOG2
absorbs a still object after about 0.1 / learning-rate frames), so a left bag, a parked car or a
person standing still stays
foreground for ``static_seconds``: long enough for the dwell rules to see it. The price is a
"ghost" of the same length where a long-still object leaves.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from kernel.errors import ConfigError
from nodes.analytics.tracker import Detection
from privacy.errors import ModelError
from privacy.onnx_session import cpu_session

if TYPE_CHECKING:
    from nodes.analytics.config import CameraAnalytics
    from privacy.redaction.objects import ObjectDetector, SharedObjects

# What each COCO class the rules care about counts as; other classes are not reported.
KINDS = {
    "person": "person",
    "bicycle": "vehicle", "car": "vehicle", "motorcycle": "vehicle", "bus": "vehicle",
    "truck": "vehicle",
    "backpack": "object", "handbag": "object", "suitcase": "object",
    "knife": "object", "baseball bat": "object",
}


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
        foreground: np.ndarray = np.where(self._model.apply(small, learningRate=rate) == 255,
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


class Gated:
    """Run ``detector`` only on frames where the motion gate sees movement."""

    def __init__(self, detector: Detector, gate: MotionGate):
        self.detector, self.gate = detector, gate

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return self.detector.detect(frame) if self.gate.moving(self.gate.mask(frame)) else []


class OnnxDetector:
    def __init__(self, path: Path, classes: tuple[str, ...], min_score: float = 0.3):
        try:
            self._session = cpu_session(path, 2, "detector")
        except ModelError as exc:
            raise ConfigError(f"{path}: not a usable ONNX model ({exc})") from None
        inputs = self._session.get_inputs()
        shape = inputs[0].shape if len(inputs) == 1 else None
        if shape is None or len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]) \
                or shape[1] != 3:
            raise ConfigError(f"{path}: the detector must take one float32 [1, 3, H, W] input "
                              f"with a fixed H and W, not {shape}")
        self._input = inputs[0].name
        self.height, self.width = int(shape[2]), int(shape[3])
        self.classes, self.min_score = classes, min_score

    def detect(self, frame: np.ndarray) -> list[Detection]:
        height, width = frame.shape[:2]
        resized = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        blob = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1)
        rows = np.asarray(self._session.run(None, {self._input: blob[None] / 255.0})[0])
        rows = rows.reshape(-1, rows.shape[-1]) if rows.ndim == 3 else rows
        sx, sy = width / self.width, height / self.height
        found = []
        for x1, y1, x2, y2, score, index in rows[:, :6]:
            label = int(index)
            if score >= self.min_score and 0 <= label < len(self.classes) and x2 > x1 \
                    and y2 > y1:
                found.append(Detection((float(x1 * sx), float(y1 * sy), float(x2 * sx),
                                        float(y2 * sy)), float(score), self.classes[label]))
        return found


class CocoObjects:
    """People, vehicles and objects from a COCO detector, as the kinds the rules use."""

    def __init__(self, objects: ObjectDetector | SharedObjects, min_score: float = 0.3,
                 kinds: dict[str, str] = KINDS):
        self.objects, self.min_score, self.kinds = objects, min_score, kinds

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return [Detection((found.box.x1, found.box.y1, found.box.x2, found.box.y2), found.score,
                          self.kinds[found.label], found.label)
                for found in self.objects.detect(frame)
                if found.label in self.kinds and found.score >= self.min_score]


def analysis_step(analytics: CameraAnalytics, fps: float) -> int:
    """Analyse one frame in this many: the COCO detector runs at its configured rate (the
    tracker bridges the frames between), the cheaper detectors on every frame."""
    if analytics.detector != "nanodet":
        return 1
    return max(1, round(fps / analytics.nanodet.rate))


def make_detector(analytics: CameraAnalytics, fps: float,
                  objects: ObjectDetector | SharedObjects | None = None) -> Detector:
    """The detector a camera's analytics configuration asks for; ``fps`` is the analysed rate.
    ``objects`` is the node's one loaded COCO detector (needed for ``detector = "nanodet"``)."""
    gate = MotionGate(fps=fps, static_seconds=analytics.static_seconds)
    if analytics.detector == "nanodet":
        if objects is None:
            raise ConfigError("detector = \"nanodet\" needs the object detector loaded from "
                              "the model cache (run `safecity models install`)")
        return Gated(CocoObjects(objects, analytics.nanodet.floor), gate)
    if analytics.detector == "hog":
        return Gated(HogPeople(), gate)
    if analytics.detector == "onnx" and analytics.onnx is not None:
        model = analytics.onnx
        return Gated(OnnxDetector(model.path, model.classes, model.min_score), gate)
    return MotionBlobs(gate)


class HogPeople:
    def __init__(self, upscale: float = 1.6, min_weight: float = 1.0):
        self._hog = cv2.HOGDescriptor()
        # OpenCV's stub says Sequence[float]; it is a float32 array, which asarray passes through
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector()))
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
