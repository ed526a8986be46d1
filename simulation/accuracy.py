"""Tracking accuracy against ground truth: CLEAR MOT (Bernardin and Stiefelhagen, "Evaluating
Multiple Object Tracking Performance: The CLEAR MOT Metrics", 2008). Per frame, ground-truth
objects keep their previous hypothesis while it still overlaps (IoU >= threshold); the rest are
matched by the Hungarian algorithm; misses, false positives and identity switches are counted."""

from __future__ import annotations

from dataclasses import dataclass

from scipy.optimize import linear_sum_assignment

from nodes.analytics.tracker import Box, iou_matrix


@dataclass
class MotScore:
    objects: int = 0
    misses: int = 0
    false_positives: int = 0
    switches: int = 0
    matches: int = 0

    @property
    def mota(self) -> float:
        if self.objects == 0:
            return 1.0
        return 1.0 - (self.misses + self.false_positives + self.switches) / self.objects


def clear_mot(truth: list[dict[int, Box]], hypotheses: list[dict[int, Box]],
              threshold: float = 0.5) -> MotScore:
    """``truth`` and ``hypotheses``: per frame, {object or track id: box}."""
    score = MotScore()
    mapping: dict[int, int] = {}  # ground-truth id -> hypothesis id
    for gt, hyp in zip(truth, hypotheses, strict=True):
        score.objects += len(gt)
        pairs: dict[int, int] = {}
        for obj, track in mapping.items():  # keep correspondences that still hold
            if obj in gt and track in hyp and iou_matrix([gt[obj]], [hyp[track]])[0, 0] >= \
                    threshold:
                pairs[obj] = track
        free_gt = [o for o in gt if o not in pairs]
        free_hyp = [h for h in hyp if h not in pairs.values()]
        if free_gt and free_hyp:
            overlap = iou_matrix([gt[o] for o in free_gt], [hyp[h] for h in free_hyp])
            rows, cols = linear_sum_assignment(-overlap)
            for row, col in zip(rows, cols, strict=True):
                if overlap[row, col] >= threshold:
                    obj, track = free_gt[row], free_hyp[col]
                    if obj in mapping and mapping[obj] != track:
                        score.switches += 1
                    pairs[obj] = track
        mapping.update(pairs)
        score.matches += len(pairs)
        score.misses += len(gt) - len(pairs)
        score.false_positives += len(hyp) - len(pairs)
    return score


def hota(truth: list[dict[int, Box]], hypotheses: list[dict[int, Box]]) -> float:
    """HOTA (Luiten et al., "HOTA: A Higher Order Metric for Evaluating Multi-Object Tracking",
    IJCV 2021): the geometric mean of detection accuracy and association accuracy, averaged
    over IoU thresholds 0.05 to 0.95. Each frame is matched by the Hungarian algorithm on IoU
    (the reference implementation also weighs in the global alignment when breaking ties)."""
    gt_sizes: dict[int, int] = {}
    hyp_sizes: dict[int, int] = {}
    for gt, hyp in zip(truth, hypotheses, strict=True):
        for obj in gt:
            gt_sizes[obj] = gt_sizes.get(obj, 0) + 1
        for track in hyp:
            hyp_sizes[track] = hyp_sizes.get(track, 0) + 1
    scores = []
    for alpha in [a / 100 for a in range(5, 100, 5)]:
        pairs: dict[tuple[int, int], int] = {}
        tp = 0
        for gt, hyp in zip(truth, hypotheses, strict=True):
            if not gt or not hyp:
                continue
            objs, tracks = list(gt), list(hyp)
            overlap = iou_matrix([gt[o] for o in objs], [hyp[t] for t in tracks])
            rows, cols = linear_sum_assignment(-overlap)
            for row, col in zip(rows, cols, strict=True):
                if overlap[row, col] >= alpha:
                    tp += 1
                    key = (objs[row], tracks[col])
                    pairs[key] = pairs.get(key, 0) + 1
        fn = sum(gt_sizes.values()) - tp
        fp = sum(hyp_sizes.values()) - tp
        if tp == 0:
            scores.append(0.0)
            continue
        det_a = tp / (tp + fn + fp)
        ass_a = sum(n * n / (gt_sizes[o] + hyp_sizes[t] - n)
                    for (o, t), n in pairs.items()) / tp
        scores.append((det_a * ass_a) ** 0.5)
    return sum(scores) / len(scores)
