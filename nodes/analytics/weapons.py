"""The ``weapon`` rule's confirmation: an object of a weapon class, from a COCO object detector
(Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014, whose classes include
``knife`` and ``baseball bat``), counts for the person who holds it or stands next to it, and a
person is flagged once it was seen with them on N of their last M looks.

An object belongs to at most one person: the one whose box it overlaps or lies nearest to,
within ``reach`` of that person's height (a knife in a hand sticks out of the box; a bat held
low reaches past it). A knife on a table with no one next to it belongs to no one. Requiring N
of M looks (the M-of-N detection rule of radar tracking: Blackman, "Multiple-Target Tracking with
Radar Applications", 1986) lets one person's weapon be missed on some looks (motion blur, a
turned blade) while a single false detection on one look never raises an event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

Box = tuple[float, float, float, float]


class Labelled(Protocol):
    """One object detection: a COCO class name, a score, a box in frame pixels."""

    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def box(self) -> Box: ...


def gap(a: Box, b: Box) -> float:
    """The distance between two boxes (0 when they overlap or touch), pixels."""
    dx = max(b[0] - a[2], a[0] - b[2], 0.0)
    dy = max(b[1] - a[3], a[1] - b[3], 0.0)
    return float((dx * dx + dy * dy) ** 0.5)


def _centre_distance(a: Box, b: Box) -> float:
    return float((((a[0] + a[2]) - (b[0] + b[2])) ** 2
                  + ((a[1] + a[3]) - (b[1] + b[3])) ** 2) ** 0.5 / 2)


def owner(obj: Box, people: dict[int, Box], reach: float) -> int | None:
    """The person track ``obj`` belongs to: within ``reach`` of their height, the nearest (by
    box gap, then by centre) among those; None when no one is that close."""
    best: tuple[float, float, int] | None = None
    for track_id, person in people.items():
        distance = gap(obj, person)
        if distance <= reach * max(1e-9, person[3] - person[1]):
            key = (distance, _centre_distance(obj, person), track_id)
            best = key if best is None or key < best else best
    return None if best is None else best[2]


@dataclass
class _Looks:
    seen: deque[float] = field(default_factory=deque)  # per look: the weapon's score, 0 unseen
    fired: bool = False


class WeaponConfirmer:
    """N-of-M confirmation of weapons held, per person track, for one rule's settings."""

    def __init__(self, classes: Sequence[str], min_score: float = 0.35, reach: float = 0.15,
                 hits: int = 3, looks: int = 5):
        if not 1 <= hits <= looks:
            raise ValueError(f"need 1 <= hits ({hits}) <= looks ({looks})")
        self.classes, self.min_score, self.reach = frozenset(classes), min_score, reach
        self.hits, self.looks = hits, looks
        self._people: dict[int, _Looks] = {}

    def update(self, people: dict[int, Box], objects: Sequence[Labelled],
               watched: Collection[int] | None = None) -> list[tuple[int, float]]:
        """One look: ``people`` (track -> box, frame pixels) on the frame, ``objects`` the
        detector found on it, ``watched`` the people this rule looks at (by default all; an
        object still belongs to the nearest person, watched or not). Returns ``(track, score)``
        for each person confirmed now (score: the mean detection score over the looks that saw
        the weapon)."""
        watched = people.keys() if watched is None else watched
        self._people = {k: v for k, v in self._people.items() if k in watched}
        held: dict[int, float] = {}
        for obj in objects:
            if obj.label not in self.classes or obj.score < self.min_score:
                continue
            x1, y1, x2, y2 = (float(v) for v in obj.box)
            track = owner((x1, y1, x2, y2), people, self.reach)
            if track is not None:
                held[track] = max(held.get(track, 0.0), float(obj.score))
        confirmed = []
        for track in people:
            if track not in watched:
                continue
            looks = self._people.setdefault(track, _Looks(deque(maxlen=self.looks)))
            looks.seen.append(held.get(track, 0.0))
            scores = [s for s in looks.seen if s > 0]
            if not looks.fired and len(scores) >= self.hits:
                looks.fired = True
                confirmed.append((track, sum(scores) / len(scores)))
        return confirmed
