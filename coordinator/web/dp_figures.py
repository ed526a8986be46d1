"""The planner page's figures (pure logic, no I/O): the 95% interval around a noisy count that
follows from the mechanism and noise scale the node states with its answer, the privacy budget
a node has left as far as the coordinator knows it, what a question would cost each node, and
the question's window from the form's days and hours in the city's time zone.

The interval is computed here, at the coordinator, from the node's stated mechanism and scale
(the API returns the scale, not an interval): the smallest whole number ``k`` such that the
noise the node added lies in ``[-k, k]`` with probability at least 95%, for the exact discrete
distribution (discrete Laplace: P(x) proportional to exp(-|x|/b); discrete Gaussian: P(x)
proportional to exp(-x^2 / 2 sigma^2)). The node clamps a noisy count at 0 and withholds one
below its threshold (post-processing, no extra privacy cost), so the interval shown is
``[max(0, v - k), v + k]``.

The budget "left" follows from the budget a node reported with its latest answer (``budget`` in
the signed result: the calendar-month period in the node's time zone, what that period and the
node's lifetime have left, and ``epsilon_left``, the smaller of the two). While that period runs,
it is the reported ``epsilon_left``; once the period has ended (the coordinator's clock is at or
past its end), the node has started a fresh period, and it is the smaller of a period's budget
and the lifetime left. It stays an estimate, an upper bound: trainings spend too, and the node
decides. The rule is written once (``contract.aggregates.estimate``, which ``GET
/aggregates/budgets`` uses too); ``remaining`` adds the period and lifetime the page shows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contract.aggregates import (
    MAX_DELTA,
    MAX_EPSILON,
    MIN_EPSILON,
    estimate,
    reported_instant,
)
from privacy.dp import periods
from privacy.dp.mechanisms import gaussian_variance, laplace_scale

LEVEL = 0.95
MAX_WINDOW = timedelta(days=31)


def half_width(mechanism: str, scale: float, level: float = LEVEL) -> int:
    """The smallest k with P(|noise| <= k) >= ``level`` for the node's stated mechanism."""
    if not 0 < level < 1 or not scale > 0 or not math.isfinite(scale):
        raise ValueError("the level is in (0, 1) and the scale positive")
    if mechanism == "discrete_laplace":
        # P(x) = (1-p)/(1+p) p^|x|, p = exp(-1/b): P(|x| > k) = 2 p^(k+1) / (1+p)
        p = math.exp(-1 / scale)
        tail = 1 - level
        k = max(0, math.ceil(math.log(tail * (1 + p) / 2) / math.log(p)) - 1)
        while k > 0 and 2 * p ** k / (1 + p) <= tail:  # k - 1 is enough: float rounding
            k -= 1
        while 2 * p ** (k + 1) / (1 + p) > tail:
            k += 1
        return k
    if mechanism == "discrete_gaussian":
        weight = lambda x: math.exp(-x * x / (2 * scale * scale))  # noqa: E731
        reach = math.ceil(40 * scale) + 1
        total = 1 + 2 * math.fsum(weight(x) for x in range(1, reach))
        inside, k = 1.0, 0
        while inside / total < level:
            k += 1
            inside += 2 * weight(k)
        return k
    raise ValueError(f"unknown mechanism {mechanism!r}")


def expected_half_width(epsilon: float, delta: float) -> int | None:
    """Before asking: the interval's half-width the node's mechanism will give at this
    (epsilon, delta), sensitivity 1, as the node computes its scale; None where the node would
    refuse the parameters."""
    if not (MIN_EPSILON <= epsilon <= MAX_EPSILON and 0 <= delta <= MAX_DELTA):
        return None
    try:
        if delta == 0:
            return half_width("discrete_laplace", float(laplace_scale(1, epsilon)))
        return half_width("discrete_gaussian",
                          math.sqrt(float(gaussian_variance(1, epsilon, delta))))
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class Point:
    """One released cell as the page shows it: the noisy value (None: withheld) and its
    interval."""

    label: str
    value: int | None
    low: int | None
    high: int | None


def point(label: str, value: int | None, k: int) -> Point:
    if value is None:
        return Point(label, None, None, None)
    return Point(label, value, max(0, value - k), value + k)


@dataclass(frozen=True)
class Left:
    """A node's privacy budget left as far as the coordinator knows it, from its latest report
    (None: it has not answered yet): ``epsilon`` is the estimate of what one more question may
    spend; ``period`` the accounting period it is for (the reported one, or the one that
    followed it where that has ended: ``renewed``), ``renews`` that period's end (aware, in the
    node's time zone ``time_zone``), ``lifetime_left`` the lifetime budget left. A node that
    reported no budget (an older node) has only ``epsilon``."""

    node_id: str
    epsilon: float | None
    reported_at: datetime | None
    query_id: str | None
    period: str | None = None
    renews: datetime | None = None
    time_zone: str | None = None
    lifetime_left: float | None = None
    renewed: bool = False

    @property
    def period_words(self) -> str | None:
        """"2026-12, renews 2027-01-01 00:00 Europe/Berlin"."""
        if self.period is None or self.renews is None:
            return None
        return f"{self.period}, renews {self.renews:%Y-%m-%d %H:%M} {self.time_zone}"


def remaining(node_id: str, answers: Iterable[dict[str, Any]], now: datetime) -> Left:
    """What ``node_id`` has left at ``now`` (aware), from its newest answer that reports its
    budget: answered, or refused for its budget (an answer from a node that reports no
    ``budget`` gives its ``epsilon_left`` as it is). ``answers``: ``{"node_id", "answered_at",
    "query_id", "result"}`` with the signed result's body (``AggregateResult`` as JSON)."""
    newest: dict[str, Any] | None = None
    for answer in answers:
        body = answer.get("result") or {}
        if answer.get("node_id") != node_id or answer.get("answered_at") is None:
            continue
        if not (body.get("budget") or (body.get("status") == "answered"
                                       and body.get("epsilon_left") is not None)):
            continue
        if newest is None or answer["answered_at"] > newest["answered_at"]:
            newest = answer
    if newest is None:
        return Left(node_id, None, None, None)
    body, when, query_id = newest["result"], newest["answered_at"], newest.get("query_id")
    budget = body.get("budget")
    if not budget:
        return Left(node_id, float(body["epsilon_left"]), when, query_id)
    ended, left = estimate(budget, now)
    where = periods.zone(budget["time_zone"])
    if ended:  # the node's period now: the month of ``now`` on its calendar
        current = periods.month_of(now, where)
        label, end = current.label, current.end
    else:
        label, end = budget["period_label"], reported_instant(budget["period_end"])
    return Left(node_id, float(left), when, query_id, period=label,
                renews=end.astimezone(where), time_zone=budget["time_zone"],
                lifetime_left=float(budget["lifetime_epsilon_left"]), renewed=ended)


@dataclass(frozen=True)
class Cost:
    """What one node would spend on the question, and what it would have left."""

    node_id: str
    site_id: str
    cameras: tuple[str, ...]
    epsilon: float
    delta: float
    left: Left
    verdict: str  # "enough", "refuse" (the node would refuse: too little left), "unknown"

    @property
    def after(self) -> float | None:
        return None if self.left.epsilon is None else max(0.0, self.left.epsilon - self.epsilon)


def costs(nodes: Sequence[tuple[str, str, Sequence[str]]], sites: Sequence[str] | None,
          cameras: Sequence[str] | None, epsilon: float, delta: float,
          lefts: dict[str, Left]) -> list[Cost]:
    """Each node the question would go to, with its cost, as ``POST /aggregates`` chooses
    them: of the active nodes (``(node_id, site_id, cameras)``), those at ``sites`` (None:
    all), with the ``cameras`` they have (None: all theirs). A node spends the question's
    epsilon once, whatever the number of cells: each visit falls in one zone and one hour (or
    one dwell bucket), so the cells are disjoint (parallel composition)."""
    out = []
    for node_id, site_id, own in nodes:
        if sites is not None and site_id not in sites:
            continue
        chosen = tuple(sorted(c for c in own if cameras is None or c in cameras))
        if not chosen:
            continue
        left = lefts.get(node_id) or Left(node_id, None, None, None)
        verdict = ("unknown" if left.epsilon is None
                   else "enough" if epsilon <= left.epsilon + 1e-12 else "refuse")
        out.append(Cost(node_id, site_id, chosen, epsilon, delta, left, verdict))
    return out


def window_of(start_day: str, start_hour: int, end_day: str, end_hour: int, zone: str
              ) -> tuple[datetime, datetime]:
    """The question's window from the form (days ``YYYY-MM-DD``, hours 0-23 on the city's
    clock, the end exclusive) as aware datetimes; ValueError with the reason otherwise."""
    try:
        first, last = date.fromisoformat(start_day), date.fromisoformat(end_day)
    except ValueError:
        raise ValueError("give the days as YYYY-MM-DD") from None
    if not (0 <= start_hour <= 23 and 0 <= end_hour <= 23):
        raise ValueError("an hour is from 0 to 23")
    where = ZoneInfo(zone)
    # in UTC: the difference of two wall-clock times across a DST change is not their distance
    start = datetime(first.year, first.month, first.day, start_hour, tzinfo=where).astimezone(UTC)
    end = datetime(last.year, last.month, last.day, end_hour, tzinfo=where).astimezone(UTC)
    if end <= start:
        raise ValueError("the window's end must come after its start")
    if end - start > MAX_WINDOW:
        raise ValueError(f"a question covers at most {MAX_WINDOW.days} days")
    return start, end
