"""Scripted body keypoint sequences for the aggression score: a stick figure with human segment
proportions moved by scripted joint angles, as MediaPipe's 33 landmarks in frame pixels. Not
footage, not a pose model's output: what the score sees if the pose model were exact, plus
scripted estimation noise (jitter, dropped landmarks, left-right swaps).

Proportions of stature (Drillis and Contini, as tabled in Winter, "Biomechanics and Motor
Control of Human Movement", 4th ed., 2009): shoulder 0.818, hip 0.530, knee 0.285, ankle 0.039,
upper arm 0.186, forearm 0.146, shoulder width 0.259, hip width 0.191. Stature 1.7 m sets the
speeds in m/s. The movements' timing is scripted from common figures, stated with each scene:
a walk's arm swing at the stride frequency (~0.9 Hz at 1.4 m/s), a jog's at ~1.4 Hz, a wave at
~2.5 Hz, a punch's extension in ~0.1 s (fist speed a few m/s untrained, ~9 m/s trained: Walilko,
Viano and Bir, Br J Sports Med 39, 2005).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nodes.analytics.aggression import (
    LANDMARKS,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_SHOULDER,
    LEFT_WRIST,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    Person,
)
from nodes.analytics.tracker import Detection, iou_matrix

STATURE_M = 1.7
Arm = tuple[float, float]  # (shoulder angle from hanging down towards the facing side, elbow
# flexion adding to it), degrees, in the image plane


@dataclass(frozen=True)
class Body:
    """One figure at one instant: where its feet are (pixels), its height (pixels), which way it
    faces (+1 right, -1 left), its arms, a forward lean of the shoulders (fraction of
    stature) and a stride phase for the legs."""

    x: float
    y: float
    height: float
    facing: int = 1
    left: Arm = (0.0, 10.0)
    right: Arm = (0.0, 10.0)
    lean: float = 0.0
    stride: float = 0.0
    turn: float = 0.35  # how much of the shoulder and hip width faces the camera (0: profile)


def _direction(angle: float, facing: int) -> np.ndarray:
    radians = math.radians(angle)
    return np.array([facing * math.sin(radians), math.cos(radians)])


def keypoints(body: Body) -> np.ndarray:
    """The figure's 33 landmarks: ``(33, 3)`` of x, y (pixels) and visibility 1."""
    h, f = body.height, body.facing
    points = np.zeros((LANDMARKS, 3))
    points[:, 2] = 1.0
    ground = np.array([body.x, body.y])

    def at(height: float, sideways: float = 0.0) -> np.ndarray:
        return ground + np.array([sideways * h, -height * h])

    lean = np.array([f * body.lean * h, 0.0])
    shoulder_half, hip_half = 0.13 * body.turn, 0.095 * body.turn
    shoulders = {LEFT_SHOULDER: at(0.818, -shoulder_half) + lean,
                 RIGHT_SHOULDER: at(0.818, shoulder_half) + lean}
    hips = {LEFT_HIP: at(0.530, -hip_half), RIGHT_HIP: at(0.530, hip_half)}
    for index, point in {**shoulders, **hips}.items():
        points[index, :2] = point
    for shoulder, elbow, wrist, (a, e) in ((LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST, body.left),
                                           (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST,
                                            body.right)):
        points[elbow, :2] = points[shoulder, :2] + 0.186 * h * _direction(a, f)
        points[wrist, :2] = points[elbow, :2] + 0.146 * h * _direction(a + e, f)
        for hand in range(17 + (wrist - LEFT_WRIST), 23, 2):  # pinky, index, thumb
            points[hand, :2] = points[wrist, :2] + 0.05 * h * _direction(a + e, f)
    head = (shoulders[LEFT_SHOULDER] + shoulders[RIGHT_SHOULDER]) / 2 + np.array(
        [f * 0.03 * h, -0.12 * h])
    points[:11, :2] = head  # nose, eyes, ears, mouth: around the head's centre
    points[1:11, 0] += np.linspace(-0.03, 0.03, 10) * h
    for side in (0, 1):
        swing = 25.0 * math.sin(body.stride + math.pi * side)
        hip = points[LEFT_HIP + side, :2]
        knee = hip + 0.245 * h * _direction(swing, f)
        ankle = knee + 0.246 * h * _direction(swing - 10 * abs(math.sin(body.stride)), f)
        points[25 + side, :2], points[27 + side, :2] = knee, ankle
        points[29 + side, :2] = ankle + np.array([-f * 0.03 * h, 0.02 * h])
        points[31 + side, :2] = ankle + np.array([f * 0.1 * h, 0.02 * h])
    return points


def box_of(points: np.ndarray) -> tuple[float, float, float, float]:
    """The box a person detector would draw: the landmarks' extent, padded (the head's top is
    above the nose, the feet's soles below the ankles)."""
    x1, y1 = points[:, :2].min(axis=0)
    x2, y2 = points[:, :2].max(axis=0)
    height = y2 - y1
    return (float(x1 - 0.05 * height), float(y1 - 0.12 * height), float(x2 + 0.05 * height),
            float(y2 + 0.02 * height))


@dataclass(frozen=True)
class Scene:
    """A scripted sequence: every person's body at each frame, and whether it shows aggression
    (the event expected, once, from ``aggressor``'s track)."""

    name: str
    aggressive: bool
    fps: float
    seconds: float
    bodies: Callable[[float], list[Body]]  # time -> the bodies on screen, track order
    aggressor: int | None = None

    def frames(self, noise: Noise | None = None) -> list[list[Person]]:
        rng = np.random.default_rng(0)
        frames = []
        for index in range(round(self.seconds * self.fps)):
            people = []
            for track, body in enumerate(self.bodies(index / self.fps), start=1):
                points = keypoints(body)
                if noise is not None:
                    points = noise.apply(points, body.height, rng)
                people.append(Person(track, box_of(keypoints(body)), points))
            frames.append(people)
        return frames


@dataclass(frozen=True)
class Noise:
    """A pose model's errors, scripted after those of BlazePose lite on the people of OpenCV's
    vtest.avi (``bench/aggression.py`` measures them): Gaussian jitter of 0.025 of stature (a
    wrist's median error there is ~0.1 torso length, ~0.03 of stature), plus in 5% of the
    landmarks a gross error of 0.12 of stature (one wrist in twenty is half a torso length
    off), a landmark's visibility dropping below use, the arms' left and right swapped."""

    jitter: float = 0.025
    gross: float = 0.05
    gross_size: float = 0.12
    dropped: float = 0.1
    swapped: float = 0.02

    def apply(self, points: np.ndarray, height: float, rng: np.random.Generator) -> np.ndarray:
        noisy = points.copy()
        noisy[:, :2] += rng.normal(0.0, self.jitter * height, size=(LANDMARKS, 2))
        gross = rng.random(LANDMARKS) < self.gross
        noisy[gross, :2] += rng.normal(0.0, self.gross_size * height, size=(int(gross.sum()), 2))
        noisy[rng.random(LANDMARKS) < self.dropped, 2] = 0.2
        if rng.random() < self.swapped:
            for left, right in ((LEFT_ELBOW, RIGHT_ELBOW), (LEFT_WRIST, RIGHT_WRIST)):
                noisy[[left, right]] = noisy[[right, left]]
        return noisy


def _metres(height: float) -> float:
    """Pixels per metre for a figure ``height`` pixels tall."""
    return height / STATURE_M


def _pulse(t: float, period: float, rise: float, fall: float, start: float = 0.0) -> float:
    """0..1: rises over ``rise`` seconds (cosine profile), falls over ``fall``, every
    ``period`` seconds from ``start``; 0 before ``start`` and between pulses."""
    if t < start:
        return 0.0
    phase = (t - start) % period
    if phase < rise:
        return 0.5 - 0.5 * math.cos(math.pi * phase / rise)
    if phase < rise + fall:
        return 0.5 + 0.5 * math.cos(math.pi * (phase - rise) / fall)
    return 0.0


def walking(height: float = 170.0, speed: float = 1.4, company: bool = False) -> Scene:
    """Walking at ``speed`` m/s, arms swinging +-20 degrees at the stride frequency (~0.9 Hz at
    1.4 m/s); with ``company``, a second walker side by side (their boxes overlapping)."""
    scale = _metres(height)
    frequency = 0.9 * speed / 1.4

    def bodies(t: float) -> list[Body]:
        phase = 2 * math.pi * frequency * t
        swing = 20.0 * math.sin(phase)
        x = 100 + speed * scale * t
        walkers = [Body(x, 400, height, 1, (swing, 15.0), (-swing, 15.0), stride=phase)]
        if company:
            walkers.append(Body(x + 0.35 * scale, 405, height * 0.97, 1, (-swing, 15.0),
                                (swing, 15.0), stride=phase + math.pi))
        return walkers

    return Scene(f"walking {speed:.1f} m/s" + (" side by side" if company else ""), False,
                 25.0, 6.0, bodies)


def jogging(height: float = 170.0, speed: float = 3.0, passing: bool = False) -> Scene:
    """Jogging at ``speed`` m/s: arms bent 90 degrees swinging +-35 degrees at ~1.4 Hz; with
    ``passing``, past a person standing in the way, close enough to touch."""
    scale = _metres(height)

    def bodies(t: float) -> list[Body]:
        phase = 2 * math.pi * 1.4 * t
        swing = 35.0 * math.sin(phase)
        runner = Body(60 + speed * scale * t, 400, height, 1, (swing, 90.0), (-swing, 90.0),
                      lean=0.03, stride=phase)
        if not passing:
            return [runner]
        return [runner, Body(60 + speed * scale * 2.0, 404, height, -1, (5.0, 10.0),
                             (5.0, 10.0))]

    return Scene(f"jogging {speed:.1f} m/s" + (" past a person" if passing else ""), False,
                 25.0, 4.0, bodies)


def waving(height: float = 170.0, other_metres: float = 8.0) -> Scene:
    """Waving at someone ``other_metres`` away: the arm raised (elbow above the shoulder), the
    forearm swinging +-35 degrees at 2.5 Hz."""
    scale = _metres(height)

    def bodies(t: float) -> list[Body]:
        wave = 35.0 * math.sin(2 * math.pi * 2.5 * t)
        return [Body(200, 400, height, 1, (5.0, 10.0), (130.0, 30.0 + wave)),
                Body(200 + other_metres * scale, 400, height, -1)]

    return Scene(f"waving at {other_metres:.0f} m", False, 25.0, 5.0, bodies)


def phoning(height: float = 170.0) -> Scene:
    """On the phone, next to someone: the hand held at the ear, small head and hand moves,
    the free hand gesturing slowly (+-15 degrees at 1 Hz)."""
    scale = _metres(height)

    def bodies(t: float) -> list[Body]:
        nod = 3.0 * math.sin(2 * math.pi * 0.7 * t)
        gesture = 15.0 * math.sin(2 * math.pi * 1.0 * t)
        return [Body(200, 400, height, 1, (20.0 + gesture, 40.0), (30.0 + nod, 150.0)),
                Body(200 + 0.6 * scale, 402, height, -1, (10.0, 20.0), (10.0, 20.0))]

    return Scene("phoning next to someone", False, 25.0, 6.0, bodies)


def talking(height: float = 170.0) -> Scene:
    """Two people talking face to face, 0.8 m apart, gesturing (forearms +-25 degrees at
    1.5 Hz, at chest height)."""
    scale = _metres(height)

    def bodies(t: float) -> list[Body]:
        a = 25.0 * math.sin(2 * math.pi * 1.5 * t)
        b = 25.0 * math.sin(2 * math.pi * 1.2 * t + 1.0)
        return [Body(200, 400, height, 1, (25.0, 60.0 + a), (15.0, 40.0 - a)),
                Body(200 + 0.8 * scale, 401, height, -1, (20.0, 50.0 + b), (10.0, 30.0))]

    return Scene("talking, gesturing", False, 25.0, 6.0, bodies)


def punching(height: float = 170.0, extension: float = 0.1, interval: float = 0.45) -> Scene:
    """Punches at a person 0.6 m away: from a guard (fist at the chin) to a straight arm at
    shoulder height with the shoulders leaning in, in ``extension`` seconds, back in twice that,
    one every ``interval`` seconds for 3 s after 1 s of standing."""
    scale = _metres(height)

    def bodies(t: float) -> list[Body]:
        hit = _pulse(t, interval, extension, 2 * extension, start=1.0) if t < 4.0 else 0.0
        alternate = int(max(0.0, t - 1.0) / interval) % 2
        jab = (20.0 + 70.0 * hit, 130.0 - 130.0 * hit)
        guard = (20.0, 130.0)
        left, right = (jab, guard) if alternate else (guard, jab)
        return [Body(200, 400, height, 1, left, right, lean=0.06 * hit),
                Body(200 + 0.6 * scale, 401, height, -1, (10.0, 30.0), (10.0, 30.0))]

    return Scene(f"punching ({extension:.2f} s per punch)", True, 25.0, 5.0, bodies, 1)


def swinging(height: float = 170.0, downswing: float = 0.2, interval: float = 1.2) -> Scene:
    """A bat (or bottle) swung overhead at a person 0.8 m away: both hands raised above the
    head over 0.5 s, brought down towards the person in ``downswing`` seconds, three times."""
    scale = _metres(height)

    def bodies(t: float) -> list[Body]:
        phase = (t - 1.0) % interval if 1.0 <= t < 1.0 + 3 * interval else -1.0
        if phase < 0:
            arm = (10.0, 20.0)
        elif phase < 0.5:
            arm = (10.0 + 150.0 * phase / 0.5, 20.0)  # winding up overhead
        elif phase < 0.5 + downswing:
            arm = (160.0 - 110.0 * (phase - 0.5) / downswing, 20.0)  # the blow
        else:
            arm = (50.0, 20.0)
        return [Body(200, 400, height, 1, arm, arm, lean=0.04 if phase >= 0.5 else 0.0),
                Body(200 + 0.8 * scale, 401, height, -1)]

    return Scene(f"overhead swing ({downswing:.2f} s down)", True, 25.0, 6.0, bodies, 1)


def pushing(height: float = 170.0, shove: float = 0.12, interval: float = 0.8) -> Scene:
    """Two people in contact shoving each other: the hands from in front of the chest (elbows
    back) to a straight arm into the other's chest, ~0.45 m, in ``shove`` seconds; the other
    is pushed back 0.3 m and shoves back ``interval`` seconds later; for 3 s."""
    scale = _metres(height)

    def bodies(t: float) -> list[Body]:
        first = _pulse(t, 2 * interval, shove, 3 * shove, start=1.0) if t < 4.0 else 0.0
        second = (_pulse(t, 2 * interval, shove, 3 * shove, start=1.0 + interval)
                  if t < 4.0 else 0.0)
        arms_a = (-20.0 + 100.0 * first, 110.0 - 110.0 * first)
        arms_b = (-20.0 + 100.0 * second, 110.0 - 110.0 * second)
        gap = 0.45 * scale + 0.3 * scale * (first - second)
        return [Body(200 - 0.15 * scale * second, 400, height, 1, arms_a, arms_a,
                     lean=0.05 * first),
                Body(200 + gap, 401, height * 0.98, -1, arms_b, arms_b, lean=0.05 * second)]

    return Scene(f"pushing every {interval:.1f} s ({shove:.2f} s per shove)", True, 25.0, 5.0,
                 bodies, 1)


def scenes() -> list[Scene]:
    """Every scripted scene, the aggressive ones at several speeds and sizes (a 170-pixel and
    a 90-pixel person), the ordinary ones at the paces people keep."""
    out: list[Scene] = []
    for height in (170.0, 90.0):
        out += [walking(height), walking(height, 1.8, company=True), jogging(height),
                jogging(height, 3.5, passing=True), waving(height), phoning(height),
                talking(height)]
        out += [punching(height, e) for e in (0.08, 0.1, 0.14)]
        out += [swinging(height, d) for d in (0.15, 0.2, 0.3)]
        out += [pushing(height, s, i) for i in (0.5, 0.8) for s in (0.1, 0.12, 0.18)]
    return out


class ScriptedCamera:
    """A scene played to the node's runner without pictures: ``detect`` gives the people's
    boxes of the next frame (as a person detector would), ``estimate`` the scripted keypoints of
    the person on a box of that frame (as the pose model would). The frames the runner passes
    are blank; nothing here looks at them."""

    def __init__(self, scene: Scene, noise: Noise | None = None):
        self.people = scene.frames(noise)
        self.index = -1

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.index += 1
        if self.index >= len(self.people):
            return []
        return [Detection(p.box, 0.9, "person") for p in self.people[self.index]]

    def estimate(self, frame: np.ndarray, box: tuple[float, float, float, float]
                 ) -> np.ndarray | None:
        if not 0 <= self.index < len(self.people):
            return None
        people = self.people[self.index]
        overlap = iou_matrix([box], [p.box for p in people])[0]
        best = int(np.argmax(overlap)) if len(people) else -1
        return people[best].keypoints if best >= 0 and overlap[best] > 0.5 else None
