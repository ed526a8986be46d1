"""The default analytics (NanoDet behind the motion gate, the tracker in between) on real CCTV:
OpenCV's `vtest.avi` (Debian `opencv-doc`; `.ci/run` installs it), scored against the people the
team boxed by hand on its frames (tests/data/real/labels.json)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kernel.errors import ConfigError
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.detection import CocoObjects, analysis_step, make_detector
from nodes.analytics.runner import CameraAnalyticsRunner
from nodes.analytics.stitching import Stitcher
from nodes.events import EventStore
from privacy import model_registry
from privacy.redaction.boxes import Box
from privacy.redaction.objects import DetectedObject, ObjectDetector
from simulation.detection_scores import DetectionScore
from simulation.real_images import ImageSourceError, frames
from simulation.real_labels import load

EVERYWHERE = {"zones": [{"id": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
              "rules": [{"id": "crowd", "type": "occupancy", "zone": "all", "max_count": 50}]}


class _Fixed:
    """A detector that reports the same objects on every frame (to test the label mapping)."""

    def __init__(self, found: list[DetectedObject]):
        self.found = found

    def detect(self, frame: object) -> list[DetectedObject]:
        return self.found


def test_coco_labels_become_the_kinds_the_rules_use() -> None:
    found = [DetectedObject("person", 0.9, Box(0, 0, 10, 30)),
             DetectedObject("truck", 0.8, Box(0, 0, 90, 40)),
             DetectedObject("suitcase", 0.7, Box(0, 0, 9, 9)),
             DetectedObject("potted plant", 0.9, Box(0, 0, 9, 9)),
             DetectedObject("person", 0.1, Box(0, 0, 10, 30))]
    mapped = CocoObjects(_Fixed(found), min_score=0.2).detect(None)  # type: ignore[arg-type]
    assert [(d.kind, d.label) for d in mapped] == [
        ("person", "person"), ("vehicle", "truck"), ("object", "suitcase")]


def test_the_detector_runs_at_its_rate_and_needs_its_model() -> None:
    analytics = CameraAnalytics.model_validate({"nanodet": {"rate": 5}})
    assert analysis_step(analytics, 25.0) == 5
    assert analysis_step(analytics, 4.0) == 1
    assert analysis_step(CameraAnalytics(detector="motion"), 25.0) == 1
    with pytest.raises(ConfigError, match="safecity models install"):
        make_detector(analytics, 5.0, None)


def test_tracked_people_on_real_cctv_match_the_hand_labels(model_dir: Path,
                                                          tmp_path: Path) -> None:
    labelled = {image.frame: image for image in load().from_source("vtest")
                if image.frame is not None and image.frame <= 375}
    try:
        video = frames(next(iter(labelled.values())).source)
    except ImageSourceError as exc:
        pytest.fail(f"{exc}: apt-get install -y opencv-doc (.ci/run does)")
    analytics = CameraAnalytics.model_validate(EVERYWHERE)
    objects = ObjectDetector(model_registry.model_path("nanodet", model_dir),
                             input_size=analytics.nanodet.input_size,
                             score_threshold=analytics.nanodet.floor, threads=2)
    store = EventStore(tmp_path / "events.db")
    runner = CameraAnalyticsRunner("vtest", analytics, 10.0, datetime.now(UTC), store,
                                   Stitcher([]), b"k" * 32, objects=objects)
    score = DetectionScore(0.5)
    for index, frame in video:
        tracks = runner.process(index, frame)
        if index in labelled:
            truth = [tuple(map(float, o.box)) for o in labelled[index].of("person")]
            score.add(truth, [t.box for t in tracks if t.kind == "person"])  # type: ignore[arg-type]
        if index >= max(labelled):
            break
    store.close()
    # Measured: recall 0.94 (49 of 52), precision 0.98 (1 false), 0.25 people off per frame over
    # these 8 frames (0.96 and 0.38 before faint detections continued confirmed tracks); the 3
    # missed are half hidden behind others or cut by the frame's edge. (At min_score 0.2 it was
    # 0.94, 0.91 and 0.75: weak detections kept false tracks alive on bollards.) The bounds
    # allow one person more missed or found falsely.
    assert score.labelled == sum(len(i.of("person")) for i in labelled.values())
    assert score.recall >= 0.92 and score.precision >= 0.92, (score.recall, score.precision)
    assert score.mean_count_error <= 0.5
