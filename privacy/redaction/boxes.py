"""Axis-aligned boxes in pixel coordinates, and the few operations redaction needs on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

import numpy as np

# "face" and "plate" are detected; "head" (the top of a person whose face the face detector
# missed) and "plate_zone" (where a vehicle's plate must be when none was found on it) are
# inferred from the object detector's person and vehicle boxes (privacy.redaction.people,
# privacy.redaction.plate_search).
Kind = Literal["face", "plate", "head", "plate_zone"]


class Box(NamedTuple):
    """``(x1, y1, x2, y2)`` in pixels, x2/y2 exclusive, floats so interpolation stays exact."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2

    def enlarged(self, fraction: float, pixels: float = 0.0) -> Box:
        """Grow each side by ``fraction`` of the box's size plus ``pixels``."""
        dx = self.width * fraction + pixels
        dy = self.height * fraction + pixels
        return Box(self.x1 - dx, self.y1 - dy, self.x2 + dx, self.y2 + dy)

    def shifted(self, dx: float, dy: float) -> Box:
        return Box(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy)

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
        )

    def pixel_slice(self, width: int, height: int) -> tuple[slice, slice]:
        """Rows and columns covering the box outwards (floor of the start, ceil of the end)."""
        c = self.clipped(width, height)
        return (
            slice(int(np.floor(c.y1)), int(np.ceil(c.y2))),
            slice(int(np.floor(c.x1)), int(np.ceil(c.x2))),
        )

    def interpolate(self, other: Box, t: float) -> Box:
        return Box(*(a + (b - a) * t for a, b in zip(self, other, strict=True)))

    def contains(self, x: float, y: float) -> bool:
        return self.x1 <= x <= self.x2 and self.y1 <= y <= self.y2

    def intersection(self, other: Box) -> Box:
        """The overlap of two boxes (zero or negative size when they do not overlap)."""
        return Box(max(self.x1, other.x1), max(self.y1, other.y1),
                   min(self.x2, other.x2), min(self.y2, other.y2))

    def capped(self, max_width: float, max_height: float) -> Box:
        """The box shrunk about its centre to at most ``max_width`` x ``max_height``."""
        cx, cy = self.centre
        w, h = min(self.width, max_width) / 2, min(self.height, max_height) / 2
        return Box(cx - w, cy - h, cx + w, cy + h)

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x1, other.x1), min(self.y1, other.y1),
            max(self.x2, other.x2), max(self.y2, other.y2),
        )


@dataclass(frozen=True)
class Detection:
    kind: Kind
    box: Box
    score: float


class Labelled(Protocol):
    """What redaction reads of an object detector's find (privacy.redaction.objects): its COCO
    class name, score and box in frame pixels."""

    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def box(self) -> Box: ...


def iou_matrix(a: list[Box], b: list[Box]) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``."""
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    aa = np.asarray(a, dtype=np.float64)[:, None, :]
    bb = np.asarray(b, dtype=np.float64)[None, :, :]
    iw = np.clip(np.minimum(aa[..., 2], bb[..., 2]) - np.maximum(aa[..., 0], bb[..., 0]), 0, None)
    ih = np.clip(np.minimum(aa[..., 3], bb[..., 3]) - np.maximum(aa[..., 1], bb[..., 1]), 0, None)
    inter = iw * ih
    area_a = (aa[..., 2] - aa[..., 0]) * (aa[..., 3] - aa[..., 1])
    area_b = (bb[..., 2] - bb[..., 0]) * (bb[..., 3] - bb[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def non_max_suppression(detections: list[Detection], iou_threshold: float) -> list[Detection]:
    """Greedy NMS per kind, highest score first."""
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: d.score, reverse=True):
        same = [k.box for k in kept if k.kind == det.kind]
        if not same or iou_matrix([det.box], same).max() <= iou_threshold:
            kept.append(det)
    return kept
