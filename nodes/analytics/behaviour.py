"""The ``unusual_behaviour`` rule: each live track, once long enough, is scored every
``every_seconds`` by the site's installed unusual-behaviour model; a track scoring above the
model's calibrated threshold raises one event (per rule and track)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nodes.analytics.config import UnusualBehaviour
from nodes.analytics.rules import Event, TrackBox
from nodes.analytics.trajectories import PathRecorder


@dataclass(frozen=True)
class Scorer:
    score: Callable[[np.ndarray], float]
    threshold: float


class BehaviourWatcher:
    def __init__(self, rules: list[UnusualBehaviour], scorer: Scorer):
        self.rules, self.scorer = rules, scorer
        self._scored: dict[tuple[str, int], float] = {}  # last time each track was scored
        self._flagged: set[tuple[str, int]] = set()

    def update(self, now: float, boxes: list[TrackBox], paths: PathRecorder) -> list[Event]:
        events = []
        live = {b.track_id for b in boxes}
        for rule in self.rules:
            for box in boxes:
                key = (rule.id, box.track_id)
                if (box.kind not in rule.kinds or key in self._flagged
                        or now - self._scored.get(key, -1e9) < rule.every_seconds - 1e-9):
                    continue
                points = paths.live(box.track_id)
                if points is None or points[-1, 0] < rule.min_seconds:
                    continue
                self._scored[key] = now
                if self.scorer.score(points) > self.scorer.threshold:
                    self._flagged.add(key)
                    events.append(Event("unusual_behaviour", rule.id, now,
                                        tracks=(box.track_id,)))
        self._scored = {k: v for k, v in self._scored.items() if k[1] in live}
        self._flagged = {k for k in self._flagged if k[1] in live}
        return events
