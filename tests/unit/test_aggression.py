"""The aggression score on scripted keypoint sequences (``simulation.poses``: a stick figure
with human proportions, not footage), its rule through the node's runner into the event store,
and what it keeps: no pose, no crop, no token."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from nodes.analytics.aggression import LANDMARKS, AggressionScorer, Person
from nodes.analytics.aggression_watch import AggressionWatcher, ThreatModels
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.runner import CameraAnalyticsRunner
from nodes.analytics.stitching import Stitcher
from nodes.events import EventStore
from privacy.errors import ModelMissingError
from simulation import poses

POSE_RATE = 8.0  # the rule's default poses per second


def play(scene: poses.Scene, scorer: AggressionScorer | None = None,
         noise: poses.Noise | None = None) -> tuple[list[tuple[tuple[int, ...], float]], float]:
    """Feed ``scene`` to a scorer at the pose rate; the events it fired and the highest score
    any person or pair reached."""
    scorer = scorer or AggressionScorer()
    fired, peak, due = [], 0.0, {}
    for index, people in enumerate(scene.frames(noise)):
        now = index / scene.fps
        posed = []
        for person in people:
            was = due.get(person.track_id, -1.0)
            if now >= was - 1e-9:  # as the watcher schedules poses: the rate on average
                due[person.track_id] = (was if now - was < 1 / POSE_RATE else now) + 1 / POSE_RATE
                posed.append(person)
            else:
                posed.append(Person(person.track_id, person.box))
        fired += scorer.update(now, posed)
        peak = max([peak, *(scorer.score(p.track_id) for p in people)],
                   default=peak)
        if len(people) == 2:
            peak = max(peak, scorer.score(1, 2))
    return fired, peak


@pytest.mark.parametrize("scene", [poses.punching(), poses.swinging(),
                                   poses.pushing(interval=0.5), poses.punching(90.0),
                                   poses.swinging(90.0), poses.pushing(90.0, interval=0.5)],
                         ids=lambda s: f"{s.name}, {s.bodies(0)[0].height:.0f} px")
def test_aggression_between_two_people_fires_once_for_the_pair(scene: poses.Scene):
    fired, peak = play(scene)
    assert [tracks for tracks, _ in fired] == [(1, 2)]
    assert 0.4 <= fired[0][1] <= peak <= 1.0


@pytest.mark.parametrize("scene", [poses.walking(), poses.walking(90.0, 1.8, company=True),
                                   poses.jogging(), poses.jogging(170.0, 3.5, passing=True),
                                   poses.waving(), poses.phoning(), poses.talking()],
                         ids=lambda s: s.name)
def test_ordinary_movement_stays_silent(scene: poses.Scene):
    for noise in (None, poses.Noise()):
        fired, peak = play(scene, noise=noise)
        assert fired == [] and peak < 0.3, (noise, peak)  # the default threshold is 0.4


def test_fast_limbs_with_no_one_to_aim_at_score_at_most_a_quarter():
    """Shadow boxing: the punches of ``punching`` with the other person taken away."""
    alone = poses.punching()
    scene = poses.Scene("shadow boxing", False, alone.fps, alone.seconds,
                        lambda t: alone.bodies(t)[:1])
    fired, peak = play(scene)
    assert fired == [] and 0.1 < peak <= 0.25
    fired, _ = play(scene, AggressionScorer(threshold=0.1))  # a lower threshold sees it alone
    assert [tracks for tracks, _ in fired] == [(1,)]


def test_a_passer_by_is_no_companion_until_close_for_a_while():
    scene = poses.punching()
    fired, _ = play(scene, AggressionScorer(together_seconds=10.0))
    assert fired == []


def test_left_right_swaps_and_impossible_jumps_are_not_motion():
    still = poses.keypoints(poses.Body(200, 400, 170, 1, (10.0, 20.0), (40.0, 60.0)))
    swapped = still.copy()
    swapped[[13, 14, 15, 16]] = still[[14, 13, 16, 15]]
    jumped = still.copy()
    jumped[15, :2] += (300.0, -300.0)  # a wrist 6 torso lengths off in an eighth of a second
    other = poses.keypoints(poses.Body(260, 401, 170, -1))
    scorer = AggressionScorer(together_seconds=0.0)
    for step in range(24):
        points = (still, swapped, jumped)[step % 3]
        box = poses.box_of(still)
        scorer.update(step / POSE_RATE, [Person(1, box, points),
                                         Person(2, poses.box_of(other), other)])
        assert scorer.score(1) == 0.0 and scorer.score(1, 2) == 0.0, step


def test_keypoints_of_the_wrong_shape_are_refused():
    scorer = AggressionScorer()
    with pytest.raises(ValueError, match=r"keypoints must be \(33, >=3\)"):
        scorer.update(0.0, [Person(1, (0, 0, 10, 40), np.zeros((17, 3)))])
    scorer.update(0.0, [Person(1, (0, 0, 10, 40), np.zeros((LANDMARKS, 4)))])  # x, y, z, vis


def test_a_missing_pose_model_names_the_install_command():
    analytics = CameraAnalytics.model_validate(
        {"rules": [{"type": "aggression", "id": "fight"}, {"type": "weapon", "id": "armed"}]})
    with pytest.raises(ModelMissingError, match=r"camera gate: rule fight needs the pose model"
                       r".*safecity models install"):
        AggressionWatcher(analytics, ThreatModels(), "gate")
    camera = poses.ScriptedCamera(poses.punching())
    with pytest.raises(ModelMissingError, match=r"rule armed needs the object detection model"):
        AggressionWatcher(analytics, ThreatModels(pose=camera), "gate")


def run_scene(tmp_path: Path, scene: poses.Scene, rules: dict[str, object]
              ) -> tuple[EventStore, CameraAnalyticsRunner]:
    analytics = CameraAnalytics.model_validate(rules)
    camera = poses.ScriptedCamera(scene)
    store = EventStore(tmp_path / "events.sqlite")
    runner = CameraAnalyticsRunner("cam", analytics, scene.fps, datetime(2026, 1, 1, tzinfo=UTC),
                                   store, Stitcher([]), b"k" * 32, detector=camera,
                                   threats=ThreatModels(pose=camera))
    blank = np.zeros((540, 960, 3), np.uint8)
    for index in range(len(camera.people) + 10):  # and a few empty frames: everyone has left
        runner.process(index, blank)
    runner.finish()
    return store, runner


def test_the_runner_stores_the_event_and_nothing_of_the_pose(tmp_path: Path):
    zone = {"id": "square", "polygon": [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]}
    store, runner = run_scene(tmp_path, poses.punching(), {
        "zones": [zone], "rules": [{"type": "aggression", "id": "fight", "zone": "square"}]})
    (event,) = store.all()
    assert (event.type, event.rule, event.camera, event.zone) == ("aggression", "fight", "cam",
                                                                  "square")
    assert event.score is not None and 0.4 <= event.score <= 1.0
    assert event.tokens == () and event.count == 1  # no one named, not even by a token
    assert 0.9 < (event.time - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds() < 4.0
    store.close()
    with sqlite3.connect(tmp_path / "events.sqlite") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master "
                                                  "WHERE type = 'table'")}
        columns = [row[1] for row in db.execute("PRAGMA table_info(events)")]
        # evidence is a redacted snapshot the camera's redactor hands over; none without one
        pictures = db.execute("SELECT count(*) FROM evidence").fetchone()[0]
        clips = db.execute("SELECT count(*) FROM clip_frames").fetchone()[0]
    # clips are cut from the redactor's output beside the evidence: none here either
    assert tables == {"events", "visits", "evidence", "clip_frames", "clip_answers",
                      "clip_outbox", "sqlite_sequence"} and pictures == clips == 0
    assert columns == ["id", "type", "rule", "camera", "zone", "line", "direction", "time",
                       "count", "tokens", "sent", "score"]
    watcher = runner.threats
    assert watcher is not None and watcher.poses > 0
    scorer = watcher._scorers["fight"]
    assert scorer._tracks == {} and scorer._scores == {}  # the people left: nothing kept


def test_people_outside_the_rules_zone_are_not_posed(tmp_path: Path):
    zone = {"id": "top", "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 0.3], [0.0, 0.3]]}
    store, runner = run_scene(tmp_path, poses.punching(), {
        "zones": [zone], "rules": [{"type": "aggression", "id": "fight", "zone": "top"}]})
    assert store.all() == [] and runner.threats is not None and runner.threats.poses == 0


def test_poses_are_limited_in_rate_and_in_people_per_frame(tmp_path: Path):
    scene = poses.punching()  # two people, 5 s at 25 frames per second
    frames = round(scene.seconds * scene.fps)
    _, runner = run_scene(tmp_path / "rate", scene, {"rules": [
        {"type": "aggression", "id": "fight", "poses_per_second": 4}]})
    assert runner.threats is not None
    assert 2 * 4 * (scene.seconds - 0.5) <= runner.threats.poses <= 2 * 4 * scene.seconds + 2
    _, runner = run_scene(tmp_path / "people", scene, {"rules": [
        {"type": "aggression", "id": "fight", "poses_per_second": 30, "max_people": 1}]})
    assert runner.threats is not None
    assert frames - 5 <= runner.threats.poses <= frames  # one per frame, not two
