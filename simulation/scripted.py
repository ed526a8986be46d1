"""Scenes with scripted trajectories and known truth, for measuring the analytics.

Each actor (a person, a vehicle, a bag) follows keyframed foot positions over a street
background; every frame comes with every actor's true box, and every script states the events
its rules must raise (which rule, when, about whom), written from the script's own geometry.
Actors are drawn with a fixed texture of their own, so background subtraction sees them whole,
as it sees real clothing and cars.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from nodes.analytics.config import CameraAnalytics
from nodes.analytics.tracker import Box
from simulation.synthetic import street_background

SIZES = {"person": (0.045, 0.22), "vehicle": (0.25, 0.15), "object": (0.04, 0.06)}
Keyframe = tuple[float, float, float]  # time (s), foot x, foot y (relative)


@dataclass(frozen=True)
class Actor:
    actor_id: int
    kind: str
    path: tuple[Keyframe, ...]  # present from the first keyframe's time to the last's

    def foot(self, t: float) -> tuple[float, float] | None:
        times = [k[0] for k in self.path]
        if t < times[0] or t > times[-1]:
            return None
        xs = np.interp(t, times, [k[1] for k in self.path])
        ys = np.interp(t, times, [k[2] for k in self.path])
        return float(xs), float(ys)

    def box(self, t: float) -> tuple[float, float, float, float] | None:
        """Relative box (x1, y1, x2, y2), or None when absent."""
        foot = self.foot(t)
        if foot is None:
            return None
        w, h = SIZES[self.kind]
        return foot[0] - w / 2, foot[1] - h, foot[0] + w / 2, foot[1]


@dataclass(frozen=True)
class Expected:
    rule: str
    time: float  # when the rule should fire (condition start + its dwell)
    direction: str | None = None  # line crossings


@dataclass(frozen=True)
class Script:
    name: str
    seconds: float
    actors: tuple[Actor, ...]
    analytics: CameraAnalytics
    expected: tuple[Expected, ...]
    width: int = 640
    height: int = 360
    fps: float = 10.0
    seed: int = 0
    notes: str = ""

    @property
    def frame_count(self) -> int:
        return round(self.seconds * self.fps)


def walk(actor_id: int, t0: float, points: list[tuple[float, float]], speed: float,
         kind: str = "person", pauses: dict[int, float] | None = None) -> Actor:
    """An actor moving through ``points`` at ``speed`` frame widths per second (16:9 frame),
    pausing ``pauses[i]`` seconds at point i."""
    pauses = pauses or {}
    t, keys = t0, [(t0, *points[0])]
    if pauses.get(0):
        t += pauses[0]
        keys.append((t, *points[0]))
    for i, (a, b) in enumerate(itertools.pairwise(points), start=1):
        distance = float(np.hypot(b[0] - a[0], (b[1] - a[1]) * 9 / 16))
        t += distance / speed
        keys.append((t, *b))
        if pauses.get(i):
            t += pauses[i]
            keys.append((t, *b))
    return Actor(actor_id, kind, tuple(keys))


def arrival(actor: Actor, x: float | None = None, y: float | None = None) -> float:
    """When the actor's foot first reaches ``x`` (or ``y``), from its keyframes."""
    for (t0, x0, y0), (t1, x1, y1) in zip(actor.path, actor.path[1:], strict=False):
        a, b, target = (x0, x1, x) if x is not None else (y0, y1, y)
        if target is not None and min(a, b) <= target <= max(a, b) and a != b:
            return t0 + (t1 - t0) * (target - a) / (b - a)
    raise ValueError(f"actor {actor.actor_id} never reaches {x if x is not None else y}")


@dataclass
class _Look:
    sprite: np.ndarray  # BGR, at the actor's size in pixels
    mask: np.ndarray


def _look(kind: str, width: int, height: int, rng: np.random.Generator) -> _Look:
    w, h = (max(4, round(SIZES[kind][0] * width)),
            max(4, round(SIZES[kind][1] * height)))
    texture = rng.normal(0, 18, (h, w, 1))
    sprite = np.zeros((h, w, 3), np.float32)
    mask = np.zeros((h, w), np.uint8)
    if kind == "person":
        head = max(3, h // 7)
        sprite[:] = rng.uniform(20, 230, 3)  # shirt
        sprite[int(h * 0.5):] = rng.uniform(20, 120, 3)  # trousers
        sprite[:head] = rng.uniform(90, 200) * np.asarray([0.75, 0.85, 1.0])  # skin
        cv2.ellipse(mask, (w // 2, head // 2), (max(2, w // 3), head // 2), 0, 0, 360, 255, -1)
        cv2.rectangle(mask, (0, head), (w - 1, int(h * 0.55)), 255, -1)
        cv2.rectangle(mask, (w // 8, int(h * 0.55)), (w // 2 - 1, h - 1), 255, -1)
        cv2.rectangle(mask, (w // 2 + 1, int(h * 0.55)), (w - 1 - w // 8, h - 1), 255, -1)
    elif kind == "vehicle":
        sprite[:] = rng.uniform(30, 220, 3)
        sprite[int(h * 0.1):int(h * 0.45), int(w * 0.2):int(w * 0.8)] = (60, 50, 40)  # windows
        mask[int(h * 0.05):] = 255
        mask[:int(h * 0.4), :int(w * 0.12)] = 0
        mask[:int(h * 0.4), int(w * 0.88):] = 0
    else:
        sprite[:] = rng.uniform(10, 200, 3)
        mask[:] = 255
    return _Look(np.clip(sprite + texture, 0, 255).astype(np.uint8), mask)


def render(script: Script) -> Iterator[tuple[np.ndarray, dict[int, Box]]]:
    """Each frame and the true pixel box of every actor in it (drawn far to near)."""
    rng = np.random.default_rng(script.seed)
    background = street_background(script.width, script.height, rng)
    looks = {a.actor_id: _look(a.kind, script.width, script.height, rng) for a in script.actors}
    for index in range(script.frame_count):
        t = index / script.fps
        frame = background.astype(np.int16) + rng.normal(0, 2, background.shape).astype(np.int16)
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        truth: dict[int, Box] = {}
        present = [(a, a.box(t)) for a in script.actors]
        for actor, box in sorted(((a, b) for a, b in present if b is not None),
                                 key=lambda item: item[1][3]):
            look = looks[actor.actor_id]
            h, w = look.mask.shape
            x1 = round(box[0] * script.width)
            y1 = round(box[3] * script.height) - h
            _paste(frame, look, x1, y1)
            clipped = (max(0, x1), max(0, y1), min(script.width, x1 + w),
                       min(script.height, y1 + h))
            if (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) >= 0.5 * w * h:
                truth[actor.actor_id] = clipped
        yield frame, truth


def _paste(frame: np.ndarray, look: _Look, x: int, y: int) -> None:
    h, w = look.mask.shape
    fx1, fy1 = max(0, x), max(0, y)
    fx2, fy2 = min(frame.shape[1], x + w), min(frame.shape[0], y + h)
    if fx1 >= fx2 or fy1 >= fy2:
        return
    sprite = look.sprite[fy1 - y:fy2 - y, fx1 - x:fx2 - x]
    mask = look.mask[fy1 - y:fy2 - y, fx1 - x:fx2 - x] > 0
    frame[fy1:fy2, fx1:fx2][mask] = sprite[mask]


@dataclass
class _Builder:
    """Zones, lines and rules as plain dicts (validated by CameraAnalytics at the end)."""

    zones: list[dict[str, object]] = field(default_factory=list)
    lines: list[dict[str, object]] = field(default_factory=list)
    rules: list[dict[str, object]] = field(default_factory=list)

    def build(self) -> CameraAnalytics:
        # Scripted actors are textured shapes, not people or cars a COCO detector knows: the
        # motion detector sees them as it sees real clothing. Real footage measures the default.
        return CameraAnalytics.model_validate({"zones": self.zones, "lines": self.lines,
                                               "rules": self.rules, "detector": "motion"})


def _box_zone(zone_id: str, x1: float, y1: float, x2: float, y2: float) -> dict[str, object]:
    return {"id": zone_id, "polygon": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]}


INERTIA = 0.3  # seconds: the rules' inertia (3 frames at 10 frames/s)


def scripts(variant: int = 0) -> list[Script]:
    """The scenes of the accuracy benchmark: one behaviour each, with bystanders. A variant
    redraws every scene (background, light, clothes, cars) from other seeds; the trajectories
    and so the expected events stay the same."""
    found, shift = [], 100 * variant

    # 1. restricted area: one of three walkers steps onto the track bed
    b = _Builder([_box_zone("tracks", 0.55, 0.78, 0.95, 0.98)], [],
                 [{"id": "no-entry", "type": "restricted_area", "zone": "tracks"}])
    intruder = walk(3, 2.0, [(0.30, 0.70), (0.75, 0.92)], 0.09)
    actors: tuple[Actor, ...] = (walk(1, 0.0, [(0.05, 0.66), (0.95, 0.66)], 0.08),
                                 walk(2, 4.0, [(0.95, 0.72), (0.10, 0.72)], 0.08), intruder)
    entry = time_inside(intruder, (0.55, 0.78, 0.95, 0.98))
    found.append(Script("restricted_area", 16.0, actors, b.build(),
                        (Expected("no-entry", entry + INERTIA),), seed=1 + shift))

    # 2. loitering: one person wanders by the cash machine for 24 s; another walks past
    b = _Builder([_box_zone("atm", 0.35, 0.6, 0.7, 0.95)], [],
                 [{"id": "loiter", "type": "loitering", "zone": "atm", "seconds": 15}])
    wanderer = walk(1, 0.0, [(0.1, 0.8), (0.45, 0.8), (0.6, 0.9), (0.5, 0.7), (0.62, 0.75),
                             (0.4, 0.88), (0.55, 0.82), (0.95, 0.82)], 0.05,
                    pauses={2: 3.0, 4: 3.0, 6: 2.0})
    passer = walk(2, 3.0, [(0.95, 0.66), (0.05, 0.66)], 0.09)
    inside = time_inside(wanderer, (0.35, 0.6, 0.7, 0.95))
    found.append(Script("loitering", 34.0, (wanderer, passer), b.build(),
                        (Expected("loiter", inside + 15),), seed=2 + shift))

    # 3. running: one runner among walkers
    b = _Builder([], [], [{"id": "run", "type": "running", "speed": 0.25}])
    runner = walk(3, 3.0, [(0.0, 0.85), (1.0, 0.85)], 0.45)
    actors = (walk(1, 0.0, [(0.05, 0.68), (0.9, 0.68)], 0.07),
              walk(2, 1.0, [(0.95, 0.76), (0.15, 0.76)], 0.08), runner)
    fast = arrival(runner, x=0.05) + 0.5  # its speed is measured over half a second
    found.append(Script("running", 14.0, actors, b.build(),
                        (Expected("run", fast + INERTIA),), seed=3 + shift))

    # 4. following: one walker stays close behind another for 14 s; a third walks alone
    b = _Builder([], [], [{"id": "follow", "type": "following", "seconds": 6,
                           "distance": 0.09}])
    leader = walk(1, 0.0, [(0.0, 0.8), (0.95, 0.8)], 0.06)
    follower = walk(2, 0.0, [(-0.07, 0.8), (0.88, 0.8)], 0.06)
    loner = walk(3, 2.0, [(0.95, 0.66), (0.05, 0.66)], 0.07)
    start = arrival(follower, x=0.02)
    found.append(Script("following", 17.0, (leader, follower, loner), b.build(),
                        (Expected("follow", start + 6 + 0.5),), seed=4 + shift))

    # 5. left object: a bag is put down and its owner walks away
    b = _Builder([_box_zone("hall", 0.0, 0.55, 1.0, 1.0)], [],
                 [{"id": "bag", "type": "left_object", "zone": "hall", "seconds": 10}])
    owner = walk(1, 0.0, [(0.05, 0.85), (0.45, 0.85), (0.95, 0.7)], 0.07, pauses={1: 1.0})
    drop = arrival(owner, x=0.45)
    bag = Actor(2, "object", ((drop + 0.5, 0.49, 0.86), (40.0, 0.49, 0.86)))
    walker = walk(3, 4.0, [(0.95, 0.64), (0.05, 0.64)], 0.08)
    found.append(Script("left_object", 26.0, (owner, bag, walker), b.build(),
                        (Expected("bag", drop + 0.5 + 10),), seed=5 + shift))

    # 6. parking overstay: a car stops in the no-parking bay and stays; another drives past
    b = _Builder([_box_zone("bay", 0.45, 0.75, 0.9, 0.98)], [],
                 [{"id": "overstay", "type": "stopped_vehicle", "zone": "bay",
                   "seconds": 12}])
    parker = Actor(1, "vehicle", ((0.0, -0.15, 0.92), (4.0, 0.65, 0.92), (40.0, 0.65, 0.92)))
    through = Actor(2, "vehicle", ((2.0, 1.15, 0.8), (9.0, -0.15, 0.8)))
    found.append(Script("stopped_vehicle", 24.0, (parker, through), b.build(),
                        (Expected("overstay", 4.0 + 12),), seed=6 + shift))

    # 7. wrong way: a one-way corridor, three walk with the flow, one against it
    b = _Builder([_box_zone("corridor", 0.0, 0.6, 1.0, 1.0)], [],
                 [{"id": "against", "type": "wrong_way", "zone": "corridor",
                   "direction": [1, 0], "min_speed": 0.03}])
    against = walk(4, 5.0, [(1.0, 0.9), (0.0, 0.9)], 0.08)
    actors = (walk(1, 0.0, [(0.0, 0.7), (1.0, 0.7)], 0.08),
              walk(2, 2.0, [(0.0, 0.8), (1.0, 0.8)], 0.09),
              walk(3, 9.0, [(0.0, 0.75), (1.0, 0.75)], 0.07), against)
    found.append(Script("wrong_way", 18.0, actors, b.build(),
                        (Expected("against", arrival(against, x=0.97) + 0.5 + INERTIA),),
                        seed=7 + shift))

    # 8. a crowd builds up on the square: the sixth person in makes it more than five
    b = _Builder([_box_zone("square", 0.1, 0.6, 0.9, 1.0)], [],
                 [{"id": "crowd", "type": "occupancy", "zone": "square", "max_count": 5}])
    spots = [(0.18, 0.7), (0.32, 0.9), (0.48, 0.72), (0.62, 0.92), (0.76, 0.7), (0.26, 0.8),
             (0.84, 0.86)]
    crowd = []
    for i, (x, y) in enumerate(spots):
        crowd.append(Actor(i + 1, "person", ((2.0 * i, x, 1.25), (2.0 * i + 3.0, x, y),
                                             (2.0 * i + 3.5, x + 0.01, y),
                                             (60.0, x - 0.01, y))))
    sixth = time_inside(crowd[5], (0.1, 0.6, 0.9, 1.0))
    found.append(Script("occupancy", 20.0, tuple(crowd), b.build(),
                        (Expected("crowd", sixth + INERTIA),), seed=8 + shift))

    # 9. counting a doorway: four go in, three come out
    # the line runs up the frame, so a walker going right crosses it from its left: "in"
    b = _Builder([], [{"id": "door", "a": [0.5, 1.0], "b": [0.5, 0.55], "forward": "in",
                       "backward": "out"}],
                 [{"id": "count", "type": "line_crossing", "line": "door"}])
    people, expected = [], []
    for i, (t0, y, rightwards) in enumerate([(0, 0.7, True), (2, 0.85, False), (4, 0.78, True),
                                             (7, 0.66, True), (9, 0.92, False),
                                             (12, 0.74, False), (14, 0.88, True)]):
        a, b_ = (0.05, 0.95) if rightwards else (0.95, 0.05)
        person = walk(i + 1, float(t0), [(a, y), (b_, y)], 0.09)
        people.append(person)
        expected.append(Expected("count", arrival(person, x=0.5), "in" if rightwards else "out"))
    found.append(Script("line_crossing", 26.0, tuple(people), b.build(), tuple(expected),
                        seed=9 + shift))
    return found


def time_inside(actor: Actor, zone: tuple[float, float, float, float]) -> float:
    """First time the actor's foot is inside an axis-aligned zone (sampled at 100 Hz)."""
    x1, y1, x2, y2 = zone
    t = actor.path[0][0]
    while t <= actor.path[-1][0]:
        foot = actor.foot(t)
        if foot is not None and x1 <= foot[0] <= x2 and y1 <= foot[1] <= y2:
            return t
        t += 0.01
    raise ValueError(f"actor {actor.actor_id} never enters {zone}")
