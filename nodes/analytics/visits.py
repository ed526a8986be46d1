"""Stays in zones (pure logic): each track's visit to each zone, from the first frame its foot
is inside to the last, a gap shorter than ``gap`` seconds forgiven (a box lost for a moment).
What planners' aggregate questions count: visits per zone per hour, and how long they last."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nodes.analytics.geometry import Point, inside
from nodes.analytics.rules import TrackBox


@dataclass(frozen=True)
class Visit:
    zone: str
    track_id: int
    entered: float  # seconds since the stream started
    left: float

    @property
    def seconds(self) -> float:
        return self.left - self.entered


class VisitCounter:
    def __init__(self, zones: dict[str, list[Point]], gap: float = 1.0):
        self.zones, self.gap = zones, gap
        self._open: dict[tuple[str, int], list[float]] = {}  # (zone, track) -> [entered, last]

    def update(self, now: float, boxes: Sequence[TrackBox]) -> list[Visit]:
        """Visits that ended (by ``now``)."""
        for box in boxes:
            for zone, polygon in self.zones.items():
                if inside(box.foot, polygon):
                    self._open.setdefault((zone, box.track_id), [now, now])[1] = now
        ended = [key for key, (_, last) in self._open.items() if now - last > self.gap]
        return [self._close(key) for key in ended]

    def flush(self) -> list[Visit]:
        """Every visit still open (the stream ended)."""
        return [self._close(key) for key in list(self._open)]

    def _close(self, key: tuple[str, int]) -> Visit:
        entered, last = self._open.pop(key)
        return Visit(key[0], key[1], entered, last)
