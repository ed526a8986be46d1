"""The analytics against scripted scenes with known truth (the figures of
`bench/analytics_accuracy.py`, one variant): every rule raises its expected event and no other,
and tracking keeps floors under what the benchmark measures (MOTA 0.90, HOTA 0.86 on variant 0
at the time of writing)."""

from __future__ import annotations

import pytest

from simulation.scoring import ScriptRun, match, run, tracking
from simulation.scripted import scripts

# rendering and analysing every scripted scene takes minutes: CI's run, not every change's
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs() -> list[ScriptRun]:
    return [run(script) for script in scripts(0)]


def test_every_rule_raises_its_events_and_no_others(runs: list[ScriptRun]) -> None:
    for result in runs:
        for rule, score in match(result.script.expected, result.events).items():
            assert score.precision >= 0.9 and score.recall >= 0.9, (
                result.script.name, rule, score, result.events)


def test_the_doorway_count_is_exact_in_each_direction(runs: list[ScriptRun]) -> None:
    doorway = next(r for r in runs if r.script.name == "line_crossing")
    counted = sorted(e.direction for e in doorway.events)
    assert counted == sorted(e.direction for e in doorway.script.expected)
    assert counted.count("in") == 4 and counted.count("out") == 3


def test_tracking_floors(runs: list[ScriptRun]) -> None:
    mot, hota = tracking(runs)
    assert mot.mota >= 0.85 and hota >= 0.8, (mot, hota)
    assert mot.switches <= 10
