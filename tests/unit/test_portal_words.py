"""The portal's words for the log's codes: every action, every refusal reason and every
policy change the code can log has one (a new code without words fails here), and a single
value is written as a number, not drawn as a lone bar (issue 24, citizen)."""

from __future__ import annotations

import re
from pathlib import Path

from audit.records import Action
from contract.warrants import Refusal
from coordinator.web.charts import chart_or_number
from coordinator.web.event_words import ACTIONS, CHANGES, REFUSALS, words

ROOT = Path(__file__).resolve().parents[2]


def test_every_code_the_log_can_hold_has_words() -> None:
    assert set(ACTIONS) == {a.value for a in Action}
    assert set(REFUSALS) == {r.value for r in Refusal}
    logged = set()
    for source in [*ROOT.glob("coordinator/**/*.py"), *ROOT.glob("nodes/**/*.py")]:
        text = source.read_text()
        for match in re.finditer(r"Action\.CONFIG_CHANGE", text):
            found = re.search(r'outcome="([a-z_]+)"', text[match.end():match.end() + 400])
            if found:
                logged.add(found.group(1))
    assert "user_created" in logged and "model_deployed" in logged  # the scan sees them
    assert logged <= set(CHANGES), logged - set(CHANGES)
    assert words("warrant_declined", ACTIONS) == "warrants refused by a judge (or the DPO)"
    assert words("something_new", CHANGES) == "something new"  # never hidden


def test_one_value_is_a_number_and_two_are_a_chart() -> None:
    one = chart_or_number("Searches by purpose", [("stolen-vehicle", 3)], "All months.")
    assert "<svg" not in one and '<span class="count">3</span> (stolen-vehicle)' in one
    assert "none recorded" in chart_or_number("Hits", [], "All months.")
    two = chart_or_number("Searches", [("a", 1), ("b", 2)], "All <months>.")
    assert two.count("<svg") == 1 and "All &lt;months&gt;." in two
