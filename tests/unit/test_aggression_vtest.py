"""The weapon and aggression rules on real CCTV where nothing of the kind happens: OpenCV's
vtest.avi (pedestrians walking, alone, in pairs and in groups), the node's runner with the real
pose and object models. And a node whose rule needs a model that is not installed stops at its
start, naming the command that installs it."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import cv2
import pytest

from nodes.analytics.aggression_watch import load_threat_models
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.runner import CameraAnalyticsRunner
from nodes.analytics.stitching import Stitcher
from nodes.config import load_settings
from nodes.events import EventStore
from nodes.node import run_node
from privacy import model_registry
from privacy.errors import ModelMissingError
from privacy.redaction.objects import ObjectDetector
from tests.unit.test_detection_vtest import VTEST


@pytest.mark.slow  # the whole clip, 79.5 s of 768x576 video, with ~3 poses a frame: ~100 s
def test_no_aggression_or_weapon_on_ordinary_footage(model_dir: Path) -> None:
    assert VTEST.exists(), "apt-get install -y opencv-doc (.ci/run does)"
    analytics = CameraAnalytics.model_validate({"rules": [
        {"type": "aggression", "id": "fight"}, {"type": "weapon", "id": "armed"}]})
    capture = cv2.VideoCapture(str(VTEST))
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore(Path(folder) / "events.sqlite")
        runner = CameraAnalyticsRunner("vtest", analytics, 10.0, datetime.now(UTC), store,
                                       Stitcher([]), b"k" * 32,
                                       threats=load_threat_models([analytics], model_dir),
                                       objects=ObjectDetector(
                                           model_registry.model_path("nanodet", model_dir),
                                           score_threshold=analytics.nanodet.floor))
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            runner.process(index, frame)
            index += 1
        runner.finish()
        assert index == 795
        assert store.all() == []
        store.close()
    watcher = runner.threats
    assert watcher is not None
    assert watcher.poses > 1000 and watcher.looks > 100  # the models did look at the people


def test_a_missing_pose_model_stops_the_node_at_its_start(tmp_path: Path, model_dir: Path
                                                          ) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for path in model_dir.iterdir():  # every model the node needs but the pose model
        if not path.name.startswith("blazepose"):
            (models / path.name).symlink_to(path)
    config = tmp_path / "node.toml"
    config.write_text(
        f'site_id = "test-site"\ndata_dir = "{tmp_path / "data"}"\nplate_sightings = false\n'
        f'[[cameras]]\nid = "plaza"\nsource = "{VTEST}"\nmax_seconds = 1\n'
        '[[cameras.analytics.rules]]\ntype = "aggression"\nid = "fight"\n')
    settings = load_settings(config, model_dir=models)
    with pytest.raises(ModelMissingError, match=r"rule fight needs the pose model: model "
                       r"'blazepose-lite' is missing .*`safecity models install`"):
        run_node(settings)
    assert not (tmp_path / "data" / "redacted").exists()  # no camera started
