"""SECURITY.md states the aggregates' guarantee as what the mechanism gives (red team 14): per
record (a visit, sensitivity 1), with a person of k records losing up to k x epsilon (group
privacy), never "any set of their records at most lifetime_epsilon"."""

from __future__ import annotations

import math
import re
from pathlib import Path

from privacy.dp.mechanisms import laplace_scale

ROOT = Path(__file__).resolve().parents[2]


def _budget_section() -> str:
    text = (ROOT / "SECURITY.md").read_text()
    start = text.index("What the guarantee is, precisely.") if \
        "What the guarantee is, precisely." in text else text.index("What a person can rely on")
    return " ".join(text[start:text.index("When the lifetime cap is spent")].split())


def test_k_visits_of_one_person_cost_k_epsilon_with_the_node_s_mechanism() -> None:
    """The discrete Laplace pmf is proportional to exp(-|z|/b): counts n and n + k are told
    apart by at most k/b in log-likelihood, and exactly that at outputs past n + k."""
    epsilon, k, n = 0.5, 5, 100
    b = float(laplace_scale(1, epsilon))

    def log_pmf(true: int, out: int) -> float:
        return -abs(out - true) / b

    loss = max(log_pmf(n + k, out) - log_pmf(n, out) for out in range(n - 20, n + k + 20))
    assert math.isclose(loss, k * epsilon, rel_tol=1e-5) and loss > epsilon


def test_security_md_states_the_event_level_guarantee_and_the_group_bound() -> None:
    section = _budget_section()
    assert not re.search(r"any set of their records, over the node's whole life: privacy loss "
                         r"at most", section)
    assert "event-level" in section and "group privacy" in section
    assert "k x epsilon for one release" in section
    assert "k x `lifetime_epsilon`" in section
