"""Scoring detections against hand-labelled boxes on real images.

Per image, labelled and detected boxes are paired one to one by the Hungarian algorithm on IoU
and a pair counts when its IoU reaches the threshold (the PASCAL VOC criterion, Everingham et
al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010, uses 0.5). Recall is
matched / labelled, precision matched / detected; the count error is |detected - labelled| per
image, what a people counter gets wrong regardless of where the boxes are.

Redaction is scored by coverage instead: the fraction of a labelled box's pixels that lie under
hidden regions, since a face half hidden is not hidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from nodes.analytics.tracker import Box, iou_matrix


def matched_truth(truth: list[Box], found: list[Box], threshold: float) -> set[int]:
    """The indices of the labelled boxes paired with a detection at IoU >= ``threshold``."""
    if not truth or not found:
        return set()
    overlap = iou_matrix(truth, found)
    rows, cols = linear_sum_assignment(-overlap)
    return {int(r) for r, c in zip(rows, cols, strict=True) if overlap[r, c] >= threshold}


def matched(truth: list[Box], found: list[Box], threshold: float) -> int:
    """How many labelled boxes are paired with a detection at IoU >= ``threshold``."""
    return len(matched_truth(truth, found, threshold))


@dataclass
class DetectionScore:
    threshold: float
    labelled: int = 0
    detected: int = 0
    matched: int = 0
    count_errors: list[int] = field(default_factory=list)
    labelled_in_view: int = 0  # labelled boxes neither occluded nor cut by the frame's edge
    matched_in_view: int = 0

    def add(self, truth: list[Box], found: list[Box], count_precision: bool = True,
            in_view: list[bool] | None = None) -> None:
        """One image. ``count_precision=False`` where the background holds unlabelled objects
        of the class (a blurred crowd): its detections then count towards recall only.
        ``in_view`` says which labelled boxes show the whole object (default: all)."""
        paired = matched_truth(truth, found, self.threshold)
        hits = len(paired)
        whole = in_view if in_view is not None else [True] * len(truth)
        self.labelled_in_view += sum(whole)
        self.matched_in_view += sum(1 for i in paired if whole[i])
        self.labelled += len(truth)
        self.matched += hits
        if count_precision:
            self.detected += len(found)
            self.count_errors.append(abs(len(found) - len(truth)))
        else:
            self.detected += hits

    @property
    def recall(self) -> float:
        return self.matched / self.labelled if self.labelled else 1.0

    @property
    def recall_in_view(self) -> float:
        """Recall over the labelled objects shown whole (not occluded, not cut by the edge)."""
        return self.matched_in_view / self.labelled_in_view if self.labelled_in_view else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def mean_count_error(self) -> float:
        return float(np.mean(self.count_errors)) if self.count_errors else 0.0


def hidden_mask(width: int, height: int, regions: Iterable[Box]) -> np.ndarray:
    """Which pixels of a ``width`` x ``height`` frame lie under any of ``regions``."""
    mask = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in regions:
        c1, r1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        c2, r2 = min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2)))
        if c2 > c1 and r2 > r1:
            mask[r1:r2, c1:c2] = True
    return mask


def coverage(box: Box, mask: np.ndarray) -> float:
    """The fraction of ``box``'s pixels that ``mask`` hides."""
    x1, y1, x2, y2 = (round(v) for v in box)
    part = mask[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
    return float(part.mean()) if part.size else 0.0
