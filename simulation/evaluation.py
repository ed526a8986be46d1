"""Measuring redaction against ground truth: coverage recall, false-redaction area, leaks.

Used by the demo, the benchmarks and the tests, so all three count the same way:

* a ground-truth face or plate is *covered* in a frame when hidden regions cover at least
  ``COVERED`` of its box;
* *false redaction* is the hidden area outside every ground-truth box, as a share of the frame;
* a *leak* is a face the detector still finds in the redacted output at a ground-truth box.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from privacy.redaction.boxes import Box, Detection, iou_matrix
from simulation.synthetic import GroundTruth

COVERED = 0.9
MIN_VISIBLE = 0.9  # occluded objects are reported apart: their hidden part needs no cover
SIZE_BUCKETS = ((24, 31), (32, 47), (48, 79), (80, 129), (130, 200), (201, 10_000))


def bucket_of(size: float) -> str:
    for low, high in SIZE_BUCKETS:
        if low <= size <= high:
            return f"{low}-{high}" if high < 10_000 else f">{low - 1}"
    return f"<{SIZE_BUCKETS[0][0]}"


@dataclass
class Score:
    """Counts of covered ground-truth objects by kind and size bucket, and false area."""

    covered: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    total: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    # objects cut by the frame's edge, by kind (also counted above, by their visible size)
    edge_covered: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    edge_total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    false_area: float = 0.0
    frame_area: float = 0.0

    def add_frame(self, width: int, height: int, truth: Sequence[GroundTruth],
                  hidden: Iterable[Box]) -> None:
        mask = np.zeros((height, width), bool)
        for box in hidden:
            mask[box.pixel_slice(width, height)] = True
        truth_mask = np.zeros_like(mask)
        for item in truth:
            truth_mask[item.box.pixel_slice(width, height)] = True
            if item.visible < MIN_VISIBLE:
                continue
            key = (item.kind, bucket_of(item.box.width))
            hit = int(mask[item.box.pixel_slice(width, height)].mean() >= COVERED)
            self.total[key] += 1
            self.covered[key] += hit
            if item.in_frame < 1.0:
                self.edge_total[item.kind] += 1
                self.edge_covered[item.kind] += hit
        self.false_area += float((mask & ~truth_mask).sum())
        self.frame_area += float(width * height)

    def recall(self, kind: str, min_size: int = 0) -> float:
        keys = [k for k in self.total if k[0] == kind and _bucket_low(k[1]) >= min_size]
        total = sum(self.total[k] for k in keys)
        return sum(self.covered[k] for k in keys) / total if total else float("nan")

    def edge_recall(self, kind: str) -> float:
        """Recall over the objects cut by the frame's edge only."""
        total = self.edge_total.get(kind, 0)
        return self.edge_covered.get(kind, 0) / total if total else float("nan")

    def count(self, kind: str) -> int:
        return sum(v for k, v in self.total.items() if k[0] == kind)

    @property
    def false_fraction(self) -> float:
        return self.false_area / self.frame_area if self.frame_area else 0.0

    def table(self) -> list[dict[str, object]]:
        rows = []
        for key in sorted(self.total, key=lambda k: (k[0], _bucket_low(k[1]))):
            rows.append({"kind": key[0], "size": key[1], "objects": self.total[key],
                         "recall": round(self.covered[key] / self.total[key], 4)})
        return rows


def _bucket_low(name: str) -> int:
    digits = name.lstrip("<>").split("-")[0]
    return int(digits) + (1 if name.startswith(">") else 0)


def leaks(detections: Sequence[Detection], truth: Sequence[GroundTruth]) -> int:
    """Ground-truth faces at which the detector still finds a face (IoU >= 0.3)."""
    faces = [t.box for t in truth if t.kind == "face"]
    found = [d.box for d in detections if d.kind == "face"]
    if not faces or not found:
        return 0
    return int((iou_matrix(faces, found).max(axis=1) >= 0.3).sum())
