"""The ``weapon`` and ``aggression`` rules of one camera, on its raw frames, in memory: the runner
hands it each frame with the person tracks confirmed on it.

Costs are bounded by configuration, not by the crowd: the pose model runs only when an aggression
rule is configured, only on person crops (people in a rule's zone, tall enough to show their
limbs), each person at most ``poses_per_second``, at most ``max_people`` per frame, people with
someone close first (an aggression score needs someone to aim at); the object detector runs only
when a weapon rule is configured, at most ``looks_per_second``. What leaves is the event: type,
rule, time, zone and score. No crop, keypoint or object box is stored or sent, nor the person's
track token (an event names no one, not even by a site-local pseudonym).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from nodes.analytics.aggression import AggressionScorer, Person, near
from nodes.analytics.config import Aggression, CameraAnalytics, Weapon
from nodes.analytics.geometry import Point, inside
from nodes.analytics.rules import Event
from nodes.analytics.weapons import Box, Labelled, WeaponConfirmer
from privacy import model_registry
from privacy.errors import ModelMissingError
from privacy.model_registry import FIX, VerifiedModel
from privacy.redaction import boxes


class PoseModel(Protocol):
    """One person's pose on one frame: ``(33, k)`` keypoints (MediaPipe's landmark order; x, y
    in frame pixels first, visibility 0..1 last) estimated on the crop ``box`` of ``frame``, or
    None when the model finds no person there."""

    def estimate(self, frame: np.ndarray, box: Box) -> np.ndarray | None: ...


class ObjectModel(Protocol):
    """Objects on a frame, with COCO class names (``label``), scores and boxes in pixels."""

    def detect(self, frame: np.ndarray) -> Sequence[Labelled]: ...


class Tracked(Protocol):
    @property
    def track_id(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def box(self) -> tuple[float, float, float, float]: ...


# NanoDet-g's own input size: knives are small
WEAPON_INPUT_SIZE = 416


@dataclass(frozen=True)
class ThreatModels:
    """The models a node loads once for every camera's weapon and aggression rules."""

    pose: PoseModel | None = None
    objects: ObjectModel | None = None


def watched_rules(analytics: CameraAnalytics) -> list[Aggression | Weapon]:
    return [r for r in analytics.rules if isinstance(r, (Aggression, Weapon))]


def check_models(analytics: CameraAnalytics, models: ThreatModels | None, camera: str = ""
                 ) -> None:
    """Raise ModelMissingError naming the rules and the fix when a rule's model is absent."""
    models = models or ThreatModels()
    where = f"camera {camera}: " if camera else ""
    for kind, model, what in ((Aggression, models.pose, "pose"),
                              (Weapon, models.objects, "object detection")):
        ids = [r.id for r in analytics.rules if isinstance(r, kind)]
        if ids and model is None:
            raise ModelMissingError(f"{where}rule {', '.join(ids)} needs the {what} model, "
                                    f"which is not installed: {FIX}")


class BlazePose:
    """The pose model (``nodes.analytics.pose``, BlazePose lite) as keypoint arrays: ``(33, 3)``
    of x, y in frame pixels and visibility; a crop the model sees no person in gives none."""

    def __init__(self, model: Path | VerifiedModel, min_presence: float = 0.5):
        from nodes.analytics.pose import PoseEstimator  # onnxruntime: only when a rule needs it

        self.estimator, self.min_presence = PoseEstimator(model), min_presence

    def estimate(self, frame: np.ndarray, box: Box) -> np.ndarray | None:
        pose = self.estimator.estimate(frame, boxes.Box(*box))
        if pose.presence < self.min_presence:
            return None
        return np.array([(k.x, k.y, k.visibility) for k in pose.keypoints])


def _model(name: str, model_dir: Path, rules: list[str], what: str) -> VerifiedModel:
    try:
        return model_registry.verified_model(name, model_dir)
    except ModelMissingError as exc:
        raise ModelMissingError(f"rule {', '.join(rules)} needs the {what} model: {exc}"
                                ) from None


def load_threat_models(cameras: Iterable[CameraAnalytics], model_dir: Path,
                       objects: ObjectModel | None = None) -> ThreatModels | None:
    """The models the cameras' weapon and aggression rules need, loaded once for the node at
    its start (None when no camera has such a rule): a model that is not installed is a
    ModelMissingError naming the rules and ``safecity models install``. ``objects`` is the
    node's shared object detector at :data:`WEAPON_INPUT_SIZE`, where it has one."""
    rules = [r for analytics in cameras for r in watched_rules(analytics)]
    if not rules:
        return None
    fights = [r.id for r in rules if isinstance(r, Aggression)]
    weapons = [r for r in rules if isinstance(r, Weapon)]
    pose = BlazePose(_model("blazepose-lite", model_dir, fights, "pose")) if fights else None
    if weapons and objects is None:
        from privacy.redaction.objects import ObjectDetector  # onnxruntime, as above

        model = _model("nanodet", model_dir, [r.id for r in weapons], "object detection")
        objects = ObjectDetector(model, input_size=WEAPON_INPUT_SIZE,
                                 score_threshold=min(r.min_score for r in weapons),
                                 labels={c for r in weapons for c in r.classes})
    return ThreatModels(pose, objects if weapons else None)


class AggressionWatcher:
    def __init__(self, analytics: CameraAnalytics, models: ThreatModels | None, camera: str = ""):
        check_models(analytics, models, camera)
        models = models or ThreatModels()
        self.pose, self.objects = models.pose, models.objects
        self.zones = {z.id: list(z.polygon) for z in analytics.zones}
        self.aggression = [r for r in analytics.rules if isinstance(r, Aggression)]
        self.weapons = [r for r in analytics.rules if isinstance(r, Weapon)]
        self._scorers = {r.id: AggressionScorer(r.threshold, r.min_seconds, r.window_seconds,
                                                r.slow, r.fast, r.together_seconds)
                         for r in self.aggression}
        self._confirmers = {r.id: WeaponConfirmer(r.classes, r.min_score, r.reach,
                                                  r.confirm_hits, r.confirm_looks)
                            for r in self.weapons}
        self._pose_period = 1 / max((r.poses_per_second for r in self.aggression), default=1)
        self._max_people = max((r.max_people for r in self.aggression), default=0)
        self._min_height = min((r.min_height for r in self.aggression), default=0)
        self._look_period = 1 / max((r.looks_per_second for r in self.weapons), default=1)
        self._due: dict[int, float] = {}  # when each live track may be posed next
        self._looked = -math.inf
        self.poses = self.looks = 0  # model runs so far (their cost)

    def update(self, now: float, frame: np.ndarray, tracks: Sequence[Tracked]) -> list[Event]:
        """One frame, ``now`` seconds into the stream, with the tracks confirmed on it (only
        people count); the events raised on it."""
        height, width = frame.shape[:2]
        people: dict[int, Box] = {}
        for t in tracks:
            if t.kind == "person":
                x1, y1, x2, y2 = t.box
                people[t.track_id] = (max(0.0, float(x1)), max(0.0, float(y1)),
                                      min(float(width), float(x2)), min(float(height), float(y2)))
        feet = {k: ((b[0] + b[2]) / 2 / width, b[3] / height) for k, b in people.items()}
        events = []
        if self.aggression:
            events += self._aggression(now, frame, people, feet)
        if self.weapons and people and now - self._looked >= self._look_period - 1e-9:
            self._looked = now
            events += self._weapons(now, frame, people, feet)
        self._due = {k: v for k, v in self._due.items() if k in people}
        return events

    def _in(self, rule: Aggression | Weapon, foot: Point) -> bool:
        return rule.zone is None or inside(foot, self.zones[rule.zone])

    def _aggression(self, now: float, frame: np.ndarray, people: dict[int, Box],
                    feet: dict[int, Point]) -> list[Event]:
        assert self.pose is not None  # checked at construction
        watched = {k for k in people if any(self._in(r, feet[k]) for r in self.aggression)}
        due = [k for k in watched
               if people[k][3] - people[k][1] >= self._min_height
               and now >= self._due.get(k, -math.inf) - 1e-9]
        company = {k: any(near(people[k], people[j]) for j in people if j != k) for k in due}
        due.sort(key=lambda k: (not company[k], self._due.get(k, -math.inf), k))
        keypoints: dict[int, np.ndarray] = {}
        for k in due[:self._max_people]:
            # the next pose one period after this one was due, so frames that do not fall on
            # the period still give the configured rate on average (not the next slower one)
            was = self._due.get(k, -math.inf)
            self._due[k] = (was if now - was < self._pose_period else now) + self._pose_period
            self.poses += 1
            points = self.pose.estimate(frame, people[k])
            if points is not None:
                keypoints[k] = points
        events = []
        for rule in self.aggression:
            posed = [Person(k, box, keypoints.get(k) if self._in(rule, feet[k]) else None)
                     for k, box in people.items()]
            for _, score in self._scorers[rule.id].update(now, posed):
                events.append(Event("aggression", rule.id, now, zone=rule.zone, score=score))
        return events

    def _weapons(self, now: float, frame: np.ndarray, people: dict[int, Box],
                 feet: dict[int, Point]) -> list[Event]:
        assert self.objects is not None  # checked at construction
        self.looks += 1
        objects = self.objects.detect(frame)
        events = []
        for rule in self.weapons:
            watched = {k for k in people if self._in(rule, feet[k])}
            for _, score in self._confirmers[rule.id].update(people, objects, watched):
                events.append(Event("weapon", rule.id, now, zone=rule.zone, score=score))
        return events
