"""Detector accuracy on real faces and rendered plates with known boxes (fast floors)."""

from __future__ import annotations

import cv2
import numpy as np

from privacy.redaction.boxes import Box, iou_matrix
from privacy.redaction.engine import Detectors, redact_image
from privacy.redaction.policy import RedactionPolicy
from simulation.evaluation import Score
from simulation.synthetic import Scene, SceneSpec, face_sprite, non_face_crops


def _grid(sprites: list[np.ndarray], size: int,
          background: int = 120) -> tuple[np.ndarray, list[Box]]:
    cols = 10
    rows = (len(sprites) + cols - 1) // cols
    step = size * 2
    canvas = np.full((rows * step, cols * step, 3), background, np.uint8)
    boxes = []
    for i, sprite in enumerate(sprites):
        y, x = (i // cols) * step + size // 2, (i % cols) * step + size // 2
        canvas[y:y + size, x:x + size] = sprite
        boxes.append(Box(x, y, x + size, y + size))
    return canvas, boxes


def test_centerface_finds_lfw_faces_and_not_lfw_non_faces(detectors: Detectors) -> None:
    assert detectors.face is not None
    faces = [face_sprite(i, 64, (0.85, 0.95, 1.1), 1.0) for i in range(100)]
    canvas, boxes = _grid(faces, 64)
    found = [d.box for d in detectors.face.detect(canvas)]
    hits = int((iou_matrix(boxes, found).max(axis=1) >= 0.3).sum())
    assert hits >= 95, hits

    others = [cv2.cvtColor(cv2.resize(crop, (64, 64)), cv2.COLOR_GRAY2BGR)
              for crop in non_face_crops()]
    canvas, _ = _grid(others, 64)
    assert len(detectors.face.detect(canvas)) <= 3


def test_stills_recall_floor_by_size(detectors: Detectors, policy: RedactionPolicy) -> None:
    """1280x720 stills, faces 24-200 px and plates 90-220 px, detection on the frame itself.
    bench/redact_accuracy.py prints the full table; the test holds floors below the targets."""
    score = Score()
    still = policy.model_copy(update={"detect_every": 1, "plates_every": 1})
    for seed in range(10):
        scene = Scene(SceneSpec(people=5, vehicles=2, face_sizes=(24, 200),
                                plate_widths=(90, 220), seed=100 + seed))
        frame, truth = scene.render(0.0)
        done = redact_image(frame.copy(), detectors, still)
        score.add_frame(1280, 720, truth, [r.box for r in done.regions])
    assert score.count("face") >= 40 and score.count("plate") >= 10
    assert score.recall("face", min_size=32) >= 0.9, score.table()
    assert score.recall("plate") >= 0.8, score.table()
    assert score.false_fraction < 0.15
