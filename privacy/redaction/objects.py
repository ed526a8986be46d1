"""People, vehicles and the other COCO objects, found by NanoDet on a BGR frame.

NanoDet (RangiLyu, https://github.com/RangiLyu/nanodet, Apache-2.0; the registry's ``nanodet``
is NanoDet-g, 416x416 on COCO) is an anchor-free one-stage detector with a Generalized Focal
Loss head (Li et al., "Generalized Focal Loss: Learning Qualified and Distributed Bounding
Boxes for Dense Object Detection", NeurIPS 2020). For each cell of the stride 8, 16 and 32 grids
it gives 80 class scores (the sigmoid is inside the converted graph) and, for each side of the
box, a distribution over the distances 0..10 in grid units: the distance is the distribution's
expectation (softmax, then the sum of ``p_i * i``) times the stride, measured from the cell's
centre ``((col + 0.5) * stride, (row + 0.5) * stride)``. Post-processing follows upstream's
``GFLHead.get_bboxes``: a score threshold, then non-maximum suppression per class (IoU 0.6).

Pre-processing is upstream's too: the BGR frame, less the mean (103.53, 116.28, 123.675),
divided by the standard deviation (57.375, 57.12, 58.395), per channel in BGR order. The
converted model takes any input size that is a multiple of 32, so the frame is either resized
to ``input_size`` keeping its aspect ratio (each side rounded to a multiple of 32), stretched to
a square, or letterboxed into one. Measured on the 102 people hand-labelled on 16 frames of real
CCTV (vtest.avi, 768x576; tests/data/real), person AP at IoU 0.5: at 320, 0.905 keeping the
aspect, 0.896 plain, 0.891 letterboxed, each finding 90 people at the default score 0.35 with 4,
17 and 7 false ones; keeping the aspect is also the cheapest (320x256 pixels: 26 ms per frame on
one thread of the 2-core development machine, against 31 and 32), hence the default. At 416 all
three reach 0.92 (91 people) but with 23 to 30 false ones, for 40 to 52 ms.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from privacy.errors import ModelError
from privacy.model_registry import VerifiedModel
from privacy.onnx_session import cpu_session
from privacy.redaction.boxes import Box

# The 80 COCO object classes in the order of the model's outputs (Lin et al., "Microsoft COCO:
# Common Objects in Context", ECCV 2014; the 80 of the detection task, as NanoDet's config
# lists them).
COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)

_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
_STD = np.array([57.375, 57.12, 58.395], np.float32)
_STRIDES = (8, 16, 32)
_BINS = 11  # reg_max 10: distances 0..10 grid units
# the converted graph's outputs, per stride: class scores, then box distributions
_OUTPUTS = {8: ("Identity", "Identity_3"), 16: ("Identity_1", "Identity_4"),
            32: ("Identity_2", "Identity_5")}

Resize = Literal["aspect", "plain", "letterbox"]


@dataclass(frozen=True)
class DetectedObject:
    """One object: its COCO label, the model's score (0..1) and its box in frame pixels."""

    label: str
    score: float
    box: Box


@dataclass(frozen=True)
class _Placement:
    """How the frame sits in the model's input: ``input = frame * scale + offset``."""

    width: int
    height: int
    scale_x: float
    scale_y: float
    offset_x: int = 0
    offset_y: int = 0


class ObjectDetector:
    """Detect COCO objects in a BGR frame with the converted NanoDet model.

    ``input_size`` (a multiple of 32) is the long side of the model's input; ``labels`` keeps
    only those classes (all 80 when None); ``score_threshold`` drops weaker detections before
    the per-class non-maximum suppression.
    """

    def __init__(
        self,
        model: Path | VerifiedModel,
        input_size: int = 320,
        resize: Resize = "aspect",
        score_threshold: float = 0.35,
        iou_threshold: float = 0.6,
        labels: Collection[str] | None = None,
        max_detections: int = 100,
        threads: int = 1,
    ):
        if input_size < 32 or input_size % 32:
            raise ModelError(f"object detector input size {input_size}: use a multiple of 32")
        unknown = sorted(set(labels or ()) - set(COCO_LABELS))
        if unknown:
            raise ModelError(f"unknown object labels {unknown}: use COCO names such as 'person'")
        self._session = cpu_session(model, threads, "object model")
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()
        self.input_size = input_size
        self.resize = resize
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self._keep = (np.ones(len(COCO_LABELS), bool) if labels is None else
                      np.isin(np.array(COCO_LABELS), list(labels)))

    def _placement(self, width: int, height: int) -> _Placement:
        size = self.input_size
        if self.resize == "plain":
            return _Placement(size, size, size / width, size / height)
        scale = size / max(width, height)
        if self.resize == "letterbox":
            new_w, new_h = round(width * scale), round(height * scale)
            return _Placement(size, size, scale, scale, (size - new_w) // 2, (size - new_h) // 2)
        in_w = max(32, round(width * scale / 32) * 32)
        in_h = max(32, round(height * scale / 32) * 32)
        return _Placement(in_w, in_h, in_w / width, in_h / height)

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, _Placement]:
        height, width = frame.shape[:2]
        place = self._placement(width, height)
        image: np.ndarray
        if self.resize == "letterbox":
            new_w, new_h = round(width * place.scale_x), round(height * place.scale_y)
            image = np.zeros((place.height, place.width, 3), np.uint8)  # upstream pads black
            image[place.offset_y:place.offset_y + new_h, place.offset_x:place.offset_x + new_w] = (
                cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR))
        else:
            image = cv2.resize(frame, (place.width, place.height), interpolation=cv2.INTER_LINEAR)
        tensor = ((image.astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)[None]
        return np.ascontiguousarray(tensor), place

    def detect(self, frame: np.ndarray) -> list[DetectedObject]:
        tensor, place = self.preprocess(frame)
        names = [name for stride in _STRIDES for name in _OUTPUTS[stride]]
        with self._lock:  # one run at a time: the session's threads are the parallelism
            results = dict(zip(names, self._session.run(names, {self._input: tensor}),
                               strict=True))
        boxes, scores, classes = [], [], []
        for stride in _STRIDES:
            score_name, box_name = _OUTPUTS[stride]
            level = results[score_name][0] * self._keep
            cells, labels = np.nonzero(level > self.score_threshold)
            if cells.size == 0:
                continue
            columns = place.width // stride
            centre_x = (cells % columns + 0.5) * stride
            centre_y = (cells // columns + 0.5) * stride
            distances = _expected_distances(results[box_name][0][cells]) * stride
            boxes.append(np.stack([centre_x - distances[:, 0], centre_y - distances[:, 1],
                                   centre_x + distances[:, 2], centre_y + distances[:, 3]], 1))
            scores.append(level[cells, labels])
            classes.append(labels)
        if not boxes:
            return []
        return self._suppress(np.concatenate(boxes), np.concatenate(scores),
                              np.concatenate(classes), place, frame.shape[1], frame.shape[0])

    def _suppress(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                  place: _Placement, width: int, height: int) -> list[DetectedObject]:
        # back to frame pixels before suppression, so IoU is measured on the real geometry
        boxes = boxes - [place.offset_x, place.offset_y, place.offset_x, place.offset_y]
        boxes = boxes / [place.scale_x, place.scale_y, place.scale_x, place.scale_y]
        boxes = np.clip(boxes, 0, [width, height, width, height])
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
        kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.tolist(),
                                       self.score_threshold, self.iou_threshold)
        order = sorted(np.asarray(kept, int).reshape(-1), key=lambda i: -scores[i])
        return [DetectedObject(COCO_LABELS[classes[i]], float(scores[i]),
                               Box(*(float(v) for v in boxes[i])))
                for i in order[:self.max_detections]]


def _expected_distances(logits: np.ndarray) -> np.ndarray:
    """``[n, 44]`` distribution logits -> ``[n, 4]`` distances in grid units (left, top, right,
    bottom): softmax over each side's 11 bins, then the expectation."""
    bins = logits.reshape(-1, 4, _BINS)
    bins = np.exp(bins - bins.max(axis=2, keepdims=True))
    bins /= bins.sum(axis=2, keepdims=True)
    result: np.ndarray = bins @ np.arange(_BINS, dtype=np.float32)
    return result


class SharedObjects:
    """One object detector for a camera's analytics and its redaction: both ask about the same
    raw frame (the analytics first, then the redactor on its keyframes), and the second asking
    gets the first answer instead of a second inference.

    A frame is recognised by identity (the memo holds the frames it answered for, so an id is
    not reused while remembered) and by a sample of its pixels: a source that decoded the next
    frame into the same buffer is a different frame, and is detected again.
    """

    def __init__(self, detector: ObjectDetector, remember: int = 8):
        self.detector = detector
        self._recent: deque[tuple[np.ndarray, bytes, list[DetectedObject]]] = deque(
            maxlen=remember)
        self._lock = threading.Lock()
        self.inferences = 0

    @staticmethod
    def _sample(frame: np.ndarray) -> bytes:
        height, width = frame.shape[:2]
        return frame[::max(1, height // 16), ::max(1, width // 16)].tobytes()

    def detect(self, frame: np.ndarray) -> list[DetectedObject]:
        sample = self._sample(frame)
        with self._lock:
            for seen, seen_sample, found in self._recent:
                if seen is frame and seen_sample == sample:
                    return found
        found = self.detector.detect(frame)
        with self._lock:
            self.inferences += 1
            self._recent.append((frame, sample, found))
        return found
