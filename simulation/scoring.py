"""Scoring the analytics on scripted scenes (``simulation.scripted``): the node's own
runner (motion blobs, tracker, rules) on the rendered frames, its events matched to the
script's expected events, its tracks to the true boxes (CLEAR MOT and HOTA)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nodes.analytics.runner import CameraAnalyticsRunner
from nodes.analytics.stitching import Stitcher
from nodes.analytics.tracker import Box
from nodes.events import EventStore
from simulation.accuracy import MotScore, clear_mot, hota
from simulation.scripted import Expected, Script, render

START = datetime(2026, 1, 1, tzinfo=UTC)
EARLY, LATE = 1.0, 3.0  # seconds an event may come before or after the expected moment


@dataclass(frozen=True)
class Detected:
    rule: str
    time: float
    direction: str | None


@dataclass
class RuleScore:
    expected: int = 0
    detected: int = 0
    matched: int = 0

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0


@dataclass
class ScriptRun:
    script: Script
    events: list[Detected]
    truth: list[dict[int, Box]] = field(default_factory=list)
    tracks: list[dict[int, Box]] = field(default_factory=list)


def run(script: Script) -> ScriptRun:
    with tempfile.TemporaryDirectory(prefix="safecity-scripted-") as tmp:
        store = EventStore(Path(tmp) / "events.sqlite")
        runner = CameraAnalyticsRunner("cam", script.analytics, script.fps, START, store,
                                       Stitcher([]), b"k" * 32)
        result = ScriptRun(script, [])
        for index, (frame, truth) in enumerate(render(script)):
            tracks = runner.process(index, frame)
            result.truth.append(truth)
            result.tracks.append({t.track_id: t.box for t in tracks})
        runner.finish()
        result.events = [Detected(e.rule, (e.time - START).total_seconds(), e.direction)
                         for e in store.all()]
        store.close()
    return result


def match(expected: tuple[Expected, ...], events: list[Detected]) -> dict[str, RuleScore]:
    """Each expected event matched at most once, by a detected event of its rule (and
    direction) from EARLY seconds before to LATE seconds after it."""
    scores: dict[str, RuleScore] = {}
    for e in expected:
        scores.setdefault(e.rule, RuleScore()).expected += 1
    for d in events:
        scores.setdefault(d.rule, RuleScore()).detected += 1
    free = sorted(events, key=lambda d: d.time)
    for e in sorted(expected, key=lambda e: e.time):
        for d in free:
            if (d.rule == e.rule and d.direction == e.direction
                    and e.time - EARLY <= d.time <= e.time + LATE):
                scores[e.rule].matched += 1
                free.remove(d)
                break
    return scores


def tracking(runs: list[ScriptRun]) -> tuple[MotScore, float]:
    # ids restart with every scene: keep them apart
    tracks = [{(i, t): box for t, box in frame.items()}
              for i, r in enumerate(runs) for frame in r.tracks]
    objects = [{(i, o): box for o, box in frame.items()}
               for i, r in enumerate(runs) for frame in r.truth]
    return clear_mot(objects, tracks), hota(objects, tracks)  # type: ignore[arg-type]  # any id
