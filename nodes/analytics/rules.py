"""Rules over tracks, frame by frame (pure logic: the caller supplies tracks and times).

A track's presence is the bottom centre of its box (where it stands). A condition must hold for
``inertia_frames`` consecutive frames before it counts, and stop holding as long before it is
re-armed, so a box jittering over a zone edge raises one event, not many. Speeds are in frame
widths per second, measured over the last half second of the track.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from nodes.analytics.config import (
    Aggression,
    CameraAnalytics,
    Following,
    LeftObject,
    LineCrossing,
    Loitering,
    Occupancy,
    RestrictedArea,
    Rule,
    Running,
    StoppedVehicle,
    UnusualBehaviour,
    Weapon,
    WrongWay,
)
from nodes.analytics.geometry import Point, crosses, inside, side

SPEED_WINDOW = 0.5  # seconds of history a speed is measured over


@dataclass(frozen=True)
class TrackBox:
    """One tracked object on one frame; the box in relative coordinates (0..1)."""

    track_id: int
    kind: str
    box: tuple[float, float, float, float]

    @property
    def foot(self) -> Point:
        x1, _, x2, y2 = self.box
        return ((x1 + x2) / 2, y2)


@dataclass(frozen=True)
class Event:
    type: str
    rule: str
    time: float  # seconds since the stream started
    zone: str | None = None
    line: str | None = None
    direction: str | None = None
    count: int = 1
    tracks: tuple[int, ...] = ()  # camera-local track ids (tokens are assigned on the way out)
    score: float | None = None  # scored rules (weapon, aggression): how sure, 0..1


@dataclass
class _Latch:
    """A condition that must hold (or stop holding) for ``frames`` frames to change state."""

    frames: int
    active: bool = False
    streak: int = 0
    since: float | None = None  # dwell rules: when the underlying condition started holding
    misses: int = 0

    def update(self, holds: bool) -> bool:
        """True exactly when the latch turns on."""
        if holds == self.active:
            self.streak = 0
            return False
        self.streak += 1
        if self.streak < self.frames:
            return False
        self.active, self.streak = holds, 0
        return holds

    def dwell(self, condition: bool, now: float, seconds: float) -> bool:
        """Whether ``condition`` has held for ``seconds``, forgiving gaps shorter than the
        inertia (a box lost for a frame or two does not restart the clock)."""
        if condition:
            self.misses = 0
            if self.since is None:
                self.since = now
        else:
            self.misses += 1
            if self.misses >= self.frames:
                self.since = None
        return self.since is not None and condition and now - self.since >= seconds


@dataclass
class _Track:
    kind: str
    history: deque[tuple[float, Point]] = field(default_factory=lambda: deque(maxlen=256))

    def velocity(self) -> tuple[float, float]:
        now, (x, y) = self.history[-1]
        for then, (px, py) in self.history:
            if now - then <= SPEED_WINDOW:
                span = now - then
                return ((x - px) / span, (y - py) / span) if span > 0 else (0.0, 0.0)
        return 0.0, 0.0


class RuleEngine:
    """All rules of one camera."""

    def __init__(self, analytics: CameraAnalytics, aspect: float = 16 / 9):
        self.analytics = analytics
        self.zones = {z.id: list(z.polygon) for z in analytics.zones}
        self.lines = {line.id: line for line in analytics.lines}
        self.aspect = aspect  # width / height: speeds and distances in frame widths
        self.tracks: dict[int, _Track] = {}
        self._latches: dict[tuple[str, object], _Latch] = {}
        self.counts: dict[tuple[str, str], int] = {}  # (line, direction) -> crossings
        self._off_line: dict[tuple[str, int], Point] = {}  # last position not on the line

    def _latch(self, rule_id: str, key: object, frames: int) -> _Latch:
        return self._latches.setdefault((rule_id, key), _Latch(frames))

    def _speed(self, velocity: tuple[float, float]) -> float:
        return math.hypot(velocity[0], velocity[1] / self.aspect)

    def update(self, now: float, boxes: list[TrackBox]) -> list[Event]:
        seen = set()
        for box in boxes:
            track = self.tracks.setdefault(box.track_id, _Track(box.kind))
            track.history.append((now, box.foot))
            seen.add(box.track_id)
        for gone in set(self.tracks) - seen:
            del self.tracks[gone]
        self._off_line = {k: v for k, v in self._off_line.items() if k[1] in seen}
        events: list[Event] = []
        for rule in self.analytics.rules:
            events += self._evaluate(rule, now, boxes)
        return events

    @staticmethod
    def _members(kinds: tuple[str, ...], boxes: list[TrackBox]) -> list[TrackBox]:
        return [b for b in boxes if b.kind in kinds]

    def _evaluate(self, rule: Rule, now: float, boxes: list[TrackBox]) -> list[Event]:
        if isinstance(rule, (UnusualBehaviour, Weapon, Aggression)):
            return []  # the runner's BehaviourWatcher and AggressionWatcher score these
        members = self._members(rule.kinds, boxes)
        zone = self.zones.get(getattr(rule, "zone", None) or "")
        if isinstance(rule, LineCrossing):
            return self._crossings(rule, now, members)
        if isinstance(rule, Occupancy):
            count = sum(inside(b.foot, zone) for b in members)  # type: ignore[arg-type]  # has a zone
            if self._latch(rule.id, None, rule.inertia_frames).update(count > rule.max_count):
                return [Event("occupancy", rule.id, now, zone=rule.zone, count=count)]
            return []
        if isinstance(rule, Following):
            return self._following(rule, now, members)
        events = []
        for box in members:
            track = self.tracks[box.track_id]
            in_zone = zone is None or inside(box.foot, zone)
            speed = self._speed(track.velocity())
            latch = self._latch(rule.id, box.track_id, rule.inertia_frames)
            if isinstance(rule, RestrictedArea):
                holds, dwell = in_zone, 0.0
            elif isinstance(rule, Loitering):
                holds, dwell = in_zone, rule.seconds
            elif isinstance(rule, Running):
                holds, dwell = in_zone and speed > rule.speed, 0.0
            elif isinstance(rule, WrongWay):
                vx, vy = track.velocity()
                dx, dy = rule.direction
                along = (vx * dx + vy / self.aspect * dy) / max(1e-9, math.hypot(dx, dy))
                holds, dwell = in_zone and along < -rule.min_speed, 0.0
            elif isinstance(rule, (StoppedVehicle, LeftObject)):
                holds, dwell = in_zone and speed < rule.max_speed, rule.seconds
            else:  # pragma: no cover - the config admits no other rule
                raise TypeError(f"unknown rule {rule!r}")
            if dwell:
                holds = latch.dwell(holds, now, dwell)
            if latch.update(holds):
                events.append(Event(rule.type, rule.id, now, zone=getattr(rule, "zone", None),
                                    tracks=(box.track_id,)))
        return events

    def _crossings(self, rule: LineCrossing, now: float, members: list[TrackBox]) -> list[Event]:
        """A crossing is a move between two positions strictly on either side of the line (a
        foot landing exactly on it waits for the next frame)."""
        line = self.lines[rule.line]
        events = []
        for box in members:
            key = (rule.id, box.track_id)
            if side(box.foot, line.a, line.b) == 0:
                continue
            before = self._off_line.get(key)
            self._off_line[key] = box.foot
            if before is None:
                continue
            sign = crosses(before, box.foot, line.a, line.b)
            if sign:
                direction = line.forward if sign > 0 else line.backward
                counted = (rule.line, direction)
                self.counts[counted] = self.counts.get(counted, 0) + 1
                events.append(Event("line_crossing", rule.id, now, line=rule.line,
                                    direction=direction, tracks=(box.track_id,)))
        return events

    def _following(self, rule: Following, now: float, members: list[TrackBox]) -> list[Event]:
        events = []
        moving = [(b, self.tracks[b.track_id].velocity()) for b in members]
        for i, (a, va) in enumerate(moving):
            for b, vb in moving[i + 1:]:
                gap = math.hypot(a.foot[0] - b.foot[0], (a.foot[1] - b.foot[1]) / self.aspect)
                both = min(self._speed(va), self._speed(vb)) > rule.min_speed
                cosine = ((va[0] * vb[0] + va[1] * vb[1])
                          / max(1e-9, math.hypot(*va) * math.hypot(*vb)))
                pair = (min(a.track_id, b.track_id), max(a.track_id, b.track_id))
                latch = self._latch(rule.id, pair, rule.inertia_frames)
                close = gap < rule.distance and both and cosine > 0.8
                if latch.update(latch.dwell(close, now, rule.seconds)):
                    events.append(Event("following", rule.id, now, tracks=pair))
        return events
