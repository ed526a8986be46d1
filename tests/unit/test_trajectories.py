"""Anonymous trajectories at the node (what the unusual-behaviour model trains on), the
model's features, its installation from a signed package, and live scoring in a camera run.

Tracks come from the node's own tracker on rendered scripted scenes where it matters (what is
recorded, what raises an event); the model for the live test is trained in this process on
sampled scripted behaviour with known labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from audit.cosignature import Cosigner
from audit.keys import new_log_key
from contract.models import SignedModel, pack
from kernel.errors import ConfigError, VerificationError
from nodes.analytics.behaviour import Scorer
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.runner import CameraAnalyticsRunner
from nodes.analytics.stitching import Stitcher
from nodes.analytics.trajectories import TrajectoryStore
from nodes.config import load_settings
from nodes.enrolment import Enrolment
from nodes.events import EventStore
from nodes.learning.deployed import BehaviourModel, checked, install, load_behaviour_model
from nodes.learning.dp_training import Plan, train
from privacy.learning.movement import NAMES, auroc, feature_matrix, features
from privacy.learning.tasks import get_task, parameters
from privacy.learning.trajectory import anomaly_scores, peak_scores
from privacy.signing import SigningKey
from simulation.behaviours import (
    ASPECT,
    NORMAL,
    UNUSUAL,
    behaviour,
    labelled,
    sampled,
    scene,
    site_trajectories,
)
from simulation.scripted import render

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
UNUSUAL_RULE = CameraAnalytics.model_validate(
    {"detector": "motion", "rules": [{"id": "odd", "type": "unusual_behaviour",
                                      "min_seconds": 3}]})


def test_features_describe_how_a_track_moves_not_where() -> None:
    rng = np.random.default_rng(1)
    walker = sampled(behaviour("commuter", rng), rng, noise=0.0)
    moved = walker + np.array([0.0, 0.2, -0.1])  # the same walk elsewhere in the frame
    np.testing.assert_allclose(features(walker), features(moved), atol=1e-5)
    named = dict(zip(NAMES, features(walker), strict=True))
    runner = dict(zip(NAMES, features(sampled(behaviour("running", rng), rng)), strict=True))
    against = dict(zip(NAMES, features(sampled(behaviour("wrong_way", rng), rng)),
                       strict=True))
    assert runner["mean_speed"] > named["mean_speed"] + 3  # standardised units
    assert named["heading_x"] > 0 > against["heading_x"]
    with pytest.raises(ConfigError, match="at least two rows"):
        features(np.zeros((1, 3)))
    with pytest.raises(ConfigError, match="must increase"):
        features(np.array([[0.0, 0.1, 0.1], [0.0, 0.2, 0.1]]))


def test_the_store_keeps_what_is_long_enough_and_forgets_past_retention(
        tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.sqlite", retention_days=7)
    long = np.array([[0.0, 0.1, 0.4], [1.0, 0.15, 0.4], [2.5, 0.2, 0.41]])
    short = np.array([[0.0, 0.1, 0.4], [1.5, 0.2, 0.4]])
    assert store.add("gate", "person", START, long)
    assert not store.add("gate", "person", START, short)
    assert store.add_many("gate", START - timedelta(days=9), [("person", long)]) == 1
    assert store.add("gate", "vehicle", START, long)
    kept = store.load("person", now=START)
    assert len(kept) == 1 and kept[0].shape == (3, 3)
    np.testing.assert_allclose(kept[0], long)
    assert store.purge(now=START) == 1 and store.count() == 2
    row = store._db.execute("SELECT camera, kind, hour FROM trajectories").fetchone()
    assert row == ("gate", "person", "2026-03-02T08:00:00+00:00")  # the hour, no more
    store.close()


def test_the_camera_run_records_each_track_as_the_tracker_saw_it(tmp_path: Path) -> None:
    script = scene(("commuter", "waiter", "wrong_way"), CameraAnalytics(detector="motion"), seed=3,
                   gap=6.0)
    events, store = EventStore(tmp_path / "e.sqlite"), TrajectoryStore(tmp_path / "t.sqlite", 7)
    runner = CameraAnalyticsRunner("cam", script.analytics, script.fps, START, events,
                                   Stitcher([]), b"k" * 32, trajectories=store)
    for index, (frame, _) in enumerate(render(script)):
        runner.process(index, frame)
    runner.finish()
    kept = store.load("person", now=START)
    assert len(kept) >= len(script.actors)  # a track may break in two, none is lost
    for actor in script.actors:  # each actor's walk is in the store, within tracker jitter
        start = actor.path[0][0]
        errors = []
        for points in kept:
            for offset in np.arange(start - 2, start + 2, 0.1):
                truth = [actor.foot(offset + t) for t in points[:, 0]]
                if all(f is not None for f in truth) and len(points) >= 8:
                    errors.append(np.mean([np.hypot(x - fx, y - fy / ASPECT)
                                           for (_, x, y), (fx, fy) in zip(points, truth,
                                                                          strict=True)]))
        assert min(errors) < 0.01, (actor.actor_id, min(errors, default=None))
    events.close()
    store.close()


def trained_model(rounds: int = 30) -> BehaviourModel:
    """The trajectory task's network trained here, without DP, on a city's normal tracks."""
    task = get_task("trajectory")
    network = task.model()
    rows = np.concatenate([feature_matrix(site_trajectories(s, 150, seed=5))
                           for s in range(3)])
    plan = Plan(0.0, 1e-5, rounds, batch_size=64, learning_rate=0.5)
    for round_number in range(1, rounds + 1):
        train(network, (rows, np.zeros(len(rows), dtype=np.int64)), plan, round_number,
              task.objective)
    calibration = [t for s in range(3) for t in site_trajectories(s, 100, seed=6)]
    threshold = float(np.quantile(peak_scores(network, calibration), 0.99))
    return BehaviourModel(network, threshold, "test")


@pytest.fixture(scope="module")
def model() -> BehaviourModel:
    return trained_model()


def test_the_model_tells_the_scripted_anomalies_from_normal_walking(
        model: BehaviourModel) -> None:
    held = labelled(NORMAL + UNUSUAL, 40, seed=9)
    normal = anomaly_scores(model.network, feature_matrix(
        [t for k in NORMAL for t in held[k]]))
    for kind in UNUSUAL:
        unusual = anomaly_scores(model.network, feature_matrix(held[kind]))
        assert auroc(normal, unusual) > 0.9, kind


def test_a_live_track_that_moves_unusually_raises_one_event(
        tmp_path: Path, model: BehaviourModel) -> None:
    script = scene(("commuter", "wrong_way", "commuter"), UNUSUAL_RULE, seed=11, gap=5.0)
    events = EventStore(tmp_path / "e.sqlite")
    runner = CameraAnalyticsRunner("cam", script.analytics, script.fps, START, events,
                                   Stitcher([]), b"k" * 32,
                                   behaviour=Scorer(model.score, model.threshold))
    boxes: dict[float, dict[int, tuple[float, ...]]] = {}
    for index, (frame, truth) in enumerate(render(script)):
        runner.process(index, frame)
        boxes[index / script.fps] = truth
    runner.finish()
    found = [e for e in events.all() if e.type == "unusual_behaviour"]
    assert len(found) == 1 and found[0].rule == "odd", found
    seconds = (found[0].time - START).total_seconds()
    against = script.actors[1]
    assert against.path[0][0] + 3 <= seconds <= against.path[-1][0]  # while it walked
    events.close()


def enrolment(coordinator: SigningKey, root: Path) -> Enrolment:
    other = SigningKey.generate().public.text()
    return Enrolment(node_id="alpha", site_id="site-a", cameras=("gate",),
                     queue="node.alpha", coordinator_key=coordinator.public.text(),
                     coordinator_sealing_key="x25519:" + "A" * 43 + "=",
                     log_key=new_log_key("city.example/audit", root / "log.key").verifier.vkey(),
                     judge_keys=(other,), dpo_keys=(other,), enrolled_at=START,
                     witness_keys=(Cosigner("witness.example/w", SigningKey.generate())
                                   .public.vkey(),), witness_quorum=1)


def signed(key: SigningKey, arrays: list[np.ndarray], task: str = "trajectory"
           ) -> dict[str, object]:
    model = pack(task, "run-1", arrays, START)
    return SignedModel(model=model, signature=model.sign(key)).model_dump(mode="json")


def test_a_node_installs_only_a_model_signed_by_its_coordinator(
        tmp_path: Path, model: BehaviourModel) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'site_id = "site-a"\ndata_dir = "{tmp_path / "data"}"\n')
    settings = load_settings(config)
    store = TrajectoryStore(settings.stores.trajectories, 7)
    store.add_many("gate", datetime.now(UTC), [("person", t)
                                               for t in site_trajectories(0, 120, seed=2)])
    store.close()
    coordinator = SigningKey.generate()
    pins = enrolment(coordinator, tmp_path)
    arrays = parameters(model.network)
    message = signed(coordinator, arrays)

    forged = signed(SigningKey.generate(), arrays)
    with pytest.raises(VerificationError, match="not signed by the coordinator"):
        checked(forged, pins)
    tampered = json.loads(json.dumps(message))
    tampered["model"]["run_id"] = "run-2"
    with pytest.raises(VerificationError, match="not signed"):
        checked(tampered, pins)
    wrong_shape = signed(coordinator, [a.reshape(-1) for a in arrays])
    with pytest.raises(VerificationError, match="does not fit"):
        checked(wrong_shape, pins)
    benchmark = signed(coordinator, parameters(get_task("digits").model()), task="digits")
    with pytest.raises(VerificationError, match="not one that runs at the nodes"):
        checked(benchmark, pins)
    with pytest.raises(VerificationError, match="not a signed model"):
        checked({"model": "nope"}, pins)
    assert load_behaviour_model(settings, pins) is None  # nothing installed by the refusals

    installed = install(settings, pins, message)
    assert installed.calibrated_on == 120 and installed.threshold is not None
    loaded = load_behaviour_model(settings, pins)
    assert loaded is not None and loaded.threshold == pytest.approx(installed.threshold)
    walk = sampled(behaviour("commuter", np.random.default_rng(3)), np.random.default_rng(3))
    assert loaded.score(walk) == pytest.approx(model.score(walk), rel=1e-5)
    # a package altered on disk after installation is not loaded
    stored = json.loads((settings.data_dir / "models" / "trajectory.json").read_text())
    stored["signed"]["model"]["sha256"] = "0" * 64
    (settings.data_dir / "models" / "trajectory.json").write_text(json.dumps(stored))
    with pytest.raises(VerificationError):
        load_behaviour_model(settings, pins)
