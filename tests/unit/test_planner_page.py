"""The planner's page: its figures (the 95% interval that follows from a node's stated noise
scale, checked against the node's own sampler; the budget left as the nodes last reported it;
what a question costs each node; the window from days and hours on the city's clock), and the
page itself: only a planner opens it or asks, a form under the session cookie needs its CSRF
token, a question asked from it is audited as one asked through the API, and the header names
who is signed in on every page, the portal included."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audit.records import Action
from contract.aggregates import estimate
from coordinator.app import create_app
from coordinator.web import dp_figures
from coordinator.web.planner import answer_view
from privacy.dp.samplers import discrete_gaussian, discrete_laplace
from tests.support.page_client import HTML, browser_for
from tests.support.world import PASSWORD, World, embedded_world

FORM = {"kind": "zone_counts_hourly", "start_day": "2026-10-01", "start_hour": "6",
        "end_day": "2026-10-01", "end_hour": "18", "epsilon": "0.5", "delta": "0"}


@pytest.mark.parametrize(("mechanism", "scale"), [
    ("discrete_laplace", 2.0), ("discrete_laplace", 0.3), ("discrete_laplace", 50.0),
    ("discrete_gaussian", 1.5), ("discrete_gaussian", 20.0)])
def test_the_interval_is_the_smallest_that_holds_95_percent(mechanism: str, scale: float
                                                            ) -> None:
    k = dp_figures.half_width(mechanism, scale)

    def mass(within: int) -> float:  # P(|x| <= within), summed from the distribution itself
        if mechanism == "discrete_laplace":
            weights = {x: math.exp(-abs(x) / scale) for x in range(-4000, 4001)}
        else:
            weights = {x: math.exp(-x * x / (2 * scale * scale)) for x in range(-4000, 4001)}
        total = math.fsum(weights.values())
        return math.fsum(w for x, w in weights.items() if abs(x) <= within) / total

    assert mass(k) >= 0.95
    assert k == 0 or mass(k - 1) < 0.95


def test_the_interval_covers_95_percent_of_the_nodes_own_noise() -> None:
    """Samples from the samplers the node uses (b = 2: epsilon 0.5; a Gaussian's sigma^2 =
    9): the share within +-k is 95% or a little more (20,000 draws: standard error 0.15%)."""
    rng = random.Random(7)
    for mechanism, draw, scale in (
            ("discrete_laplace", lambda: discrete_laplace(Fraction(2), rng), 2.0),
            ("discrete_gaussian", lambda: discrete_gaussian(Fraction(9), rng), 3.0)):
        k = dp_figures.half_width(mechanism, scale)
        inside = sum(abs(draw()) <= k for _ in range(20_000)) / 20_000
        assert 0.945 <= inside <= 0.975, (mechanism, k, inside)
        inside_narrower = sum(abs(draw()) <= k - 1 for _ in range(20_000)) / 20_000
        assert inside_narrower < 0.95, (mechanism, k, inside_narrower)
    assert dp_figures.expected_half_width(0.5, 0) == dp_figures.half_width("discrete_laplace", 2)
    assert dp_figures.expected_half_width(0.5, 0.5) is None  # a delta the node refuses
    with pytest.raises(ValueError):
        dp_figures.half_width("laplace", 1.0)


def test_an_interval_never_goes_below_zero_and_a_withheld_count_has_none() -> None:
    assert dp_figures.point("08:00", 3, 6) == dp_figures.Point("08:00", 3, 0, 9)
    assert dp_figures.point("09:00", None, 6) == dp_figures.Point("09:00", None, None, None)


def test_the_budget_left_is_the_newest_answer_and_the_cost_says_who_would_refuse() -> None:
    day = datetime(2026, 12, 1, tzinfo=UTC)
    answers = [
        {"node_id": "n1", "query_id": "old", "answered_at": day,
         "result": {"status": "answered", "epsilon_left": "3"}},
        {"node_id": "n1", "query_id": "new", "answered_at": day + timedelta(hours=1),
         "result": {"status": "answered", "epsilon_left": "0.4"}},
        {"node_id": "n1", "query_id": "refused", "answered_at": day + timedelta(hours=2),
         "result": {"status": "refused", "epsilon_left": None}},
        {"node_id": "n2", "query_id": "other", "answered_at": day,
         "result": {"status": "answered", "epsilon_left": "2"}}]
    now = day + timedelta(hours=3)
    left = dp_figures.remaining("n1", answers, now)
    assert (left.epsilon, left.query_id, left.period) == (0.4, "new", None)  # no budget stated
    assert dp_figures.remaining("n3", answers, now).epsilon is None
    nodes = [("n1", "site-a", ["gate", "lobby"]), ("n2", "site-b", ["gate"]),
             ("n3", "site-c", ["yard"])]
    lefts = {n: dp_figures.remaining(n, answers, now) for n in ("n1", "n2", "n3")}
    costs = dp_figures.costs(nodes, None, ["gate"], 0.5, 0.0, lefts)
    assert [(c.node_id, c.cameras, c.verdict, c.after) for c in costs] == [
        ("n1", ("gate",), "refuse", 0.0), ("n2", ("gate",), "enough", 1.5)]
    only_c = dp_figures.costs(nodes, ["site-c"], None, 0.5, 0.0, lefts)
    assert [(c.node_id, c.verdict, c.after) for c in only_c] == [("n3", "unknown", None)]


def budget(label: str, start: str, end: str, *, period: str = "2", period_left: str,
           lifetime_left: str, zone: str = "Europe/Berlin") -> dict[str, str]:
    """A node's budget report as JSON (``contract.aggregates.BudgetReport``)."""
    left = str(min(Decimal(period_left), Decimal(lifetime_left)))
    return {"period": "month", "time_zone": zone, "period_label": label, "period_start": start,
            "period_end": end, "period_epsilon": period,
            "period_epsilon_spent": str(Decimal(period) - Decimal(period_left)),
            "period_epsilon_left": period_left, "period_delta": "0",
            "period_delta_spent": "0", "period_delta_left": "0", "lifetime_epsilon": "10",
            "lifetime_epsilon_spent": str(10 - Decimal(lifetime_left)),
            "lifetime_epsilon_left": lifetime_left, "lifetime_delta": "0",
            "lifetime_delta_spent": "0", "lifetime_delta_left": "0", "epsilon_left": left,
            "delta_left": "0", "as_of": start}


def test_the_budget_left_renews_with_the_nodes_month_up_to_the_lifetime_left() -> None:
    """December 2026 in Berlin runs from 2026-11-30T23:00Z to 2026-12-31T23:00Z. While it runs,
    the estimate is what the node reported; from the instant it ends, a fresh month's budget
    or the lifetime left, whichever is smaller, for January; the lifetime never renews."""
    december = budget("2026-12", "2026-11-30T23:00:00Z", "2026-12-31T23:00:00Z",
                      period_left="0.25", lifetime_left="1.5")
    reported = datetime(2026, 12, 20, 9, tzinfo=UTC)
    answers = [{"node_id": "n1", "query_id": "q", "answered_at": reported,
                "result": {"status": "answered", "epsilon_left": "0.25", "budget": december}}]
    end = datetime(2026, 12, 31, 23, tzinfo=UTC)

    during = dp_figures.remaining("n1", answers, end - timedelta(microseconds=1))
    assert (during.epsilon, during.period, during.renewed, during.lifetime_left) == (
        0.25, "2026-12", False, 1.5)
    assert during.period_words == "2026-12, renews 2027-01-01 00:00 Europe/Berlin"

    after = dp_figures.remaining("n1", answers, end)  # the end is exclusive: January now
    assert (after.epsilon, after.period, after.renewed, after.lifetime_left) == (
        1.5, "2027-01", True, 1.5)  # the lifetime left (1.5) is smaller than a month's 2
    assert after.period_words == "2027-01, renews 2027-02-01 00:00 Europe/Berlin"
    assert (after.reported_at, after.query_id) == (reported, "q")
    # with more lifetime left, a fresh month's budget is the bound; and a question the stale
    # report would refuse is now expected to be answered
    plenty = budget("2026-12", "2026-11-30T23:00:00Z", "2026-12-31T23:00:00Z",
                    period_left="0", lifetime_left="6")
    answers[0]["result"] = {"status": "refused", "reason": "budget_exceeded",
                            "epsilon_left": "0", "budget": plenty}
    assert dp_figures.remaining("n1", answers, end - timedelta(seconds=1)).epsilon == 0.0
    renewed = dp_figures.remaining("n1", answers, datetime(2027, 3, 5, tzinfo=UTC))
    assert (renewed.epsilon, renewed.period) == (2.0, "2027-03")  # months later: that month
    nodes = [("n1", "site-a", ["gate"])]
    assert [c.verdict for c in dp_figures.costs(nodes, None, None, 1.0, 0.0, {
        "n1": dp_figures.remaining("n1", answers, end - timedelta(seconds=1))})] == ["refuse"]
    assert [(c.verdict, c.after) for c in dp_figures.costs(nodes, None, None, 1.0, 0.0, {
        "n1": dp_figures.remaining("n1", answers, end)})] == [("enough", 1.0)]
    # the same rule as GET /aggregates/budgets
    assert estimate(plenty, end) == (True, Decimal(2))
    assert estimate(december, end - timedelta(seconds=1)) == (False, Decimal("0.25"))
    with pytest.raises(ValueError):
        dp_figures.remaining("n1", answers, datetime(2027, 1, 5))  # a naive clock


def test_the_window_is_read_on_the_citys_clock() -> None:
    start, end = dp_figures.window_of("2026-03-29", 0, "2026-03-29", 6, "Europe/Berlin")
    assert start == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert end - start == timedelta(hours=5)  # the clocks went forward at 02:00
    for bad, reason in ((("2026-10-02", 0, "2026-10-01", 0), "after its start"),
                        (("2026-10-01", 0, "2026-11-05", 0), "at most 31 days"),
                        (("1 Oct", 0, "2026-10-02", 0), "YYYY-MM-DD"),
                        (("2026-10-01", 24, "2026-10-02", 0), "0 to 23")):
        with pytest.raises(ValueError, match=reason):
            dp_figures.window_of(*bad, zone="UTC")  # type: ignore[misc]


def test_the_answer_is_drawn_with_its_error_bars() -> None:
    view = {"query_id": "q", "kind": "zone_counts_hourly", "epsilon": 0.5, "delta": 0.0,
            "status": "complete",
            "window": {"start": "2026-10-01T06:00:00+00:00", "end": "2026-10-01T08:00:00+00:00"},
            "nodes": [
                {"node_id": "n1", "site_id": "site-a", "status": "answered", "reason": None,
                 "detail": None, "mechanism": "discrete_laplace", "noise_scale": "2",
                 "epsilon": "0.5", "delta": "0", "suppressed_below": 0, "epsilon_left": "1.5",
                 "cells": [{"camera": "gate", "zone": "square", "bucket":
                            "2026-10-01T06:00:00+00:00", "value": 41},
                           {"camera": "gate", "zone": "square", "bucket":
                            "2026-10-01T07:00:00+00:00", "value": None}]},
                {"node_id": "n2", "site_id": "site-b", "status": "refused",
                 "reason": "budget_exceeded", "detail": "only 0.1 left", "cells": []}]}
    shown = answer_view(view, "Europe/Berlin")
    answered, refused = shown["nodes"]
    assert answered["half_width"] == 6 and refused["series"] == []
    (series,) = answered["series"]
    assert [(p.label, p.value, p.low, p.high) for p in series["points"]] == [
        ("08:00", 41, 35, 47), ("09:00", None, None, None)]  # Berlin is UTC+2 in October
    chart = str(series["chart"])
    assert 'role="img"' in chart and "08:00: 41 (95% interval 35 to 47)" in chart
    assert "09:00: withheld" in chart and chart.count('class="whisker"') == 1


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def test_a_planner_lands_on_the_page_and_asks_audited_as_through_the_api(city: World) -> None:
    planner = TestClient(create_app(city.svc), follow_redirects=False)
    planner.get("/login", headers=HTML)
    landed = planner.post("/login", data={"username": "planner", "password": PASSWORD,
                                          "csrf": planner.cookies["safecity_csrf"]})
    assert landed.headers["location"] == "/planner"
    page = planner.get("/planner", headers=HTML)
    assert page.status_code == 200 and "Sign out planner (planner)" in page.text
    assert "unknown until its first answer" in page.text  # no answer yet: no budget figure
    # the header names who is signed in on the public pages too
    assert "Sign out planner (planner)" in planner.get("/portal", headers=HTML).text
    assert ">Sign in<" in browser_for(city, None).get("/portal", headers=HTML).text

    before = city.svc.audit.size()
    without_token = planner.post("/planner/questions", data=FORM)
    assert without_token.status_code == 403  # the cookie alone, no CSRF token
    assert city.svc.audit.size() == before  # an anonymous denial: counted, nothing sent
    asked = planner.post("/planner/questions",
                         data={**FORM, "csrf": planner.cookies["safecity_csrf"]})
    assert asked.status_code == 303, asked.text
    query_id = asked.headers["location"].rsplit("/", 1)[1]
    dispatched = [e.record for e in city.svc.audit.entries(before, 100)
                  if e.record.action is Action.QUERY_DISPATCHED]
    assert len(dispatched) == 1
    record = dispatched[0]
    assert record.actor.role == "planner" and record.purpose_code == "planning"
    assert record.scope.window.start.startswith("2026-10-01T06:00:00")  # the city: UTC
    index = next(e.index for e in city.svc.audit.entries(before, 100)
                 if e.record.action is Action.QUERY_DISPATCHED)
    details = city.svc.audit.details(index)
    assert details["query_id"].decode().strip('"') == query_id
    assert details["epsilon"].decode().strip('"') == "0.5"

    answer = planner.get(f"/planner/questions/{query_id}", headers=HTML)
    assert answer.status_code == 200 and "Waiting for the sites" in answer.text
    history = planner.get("/planner", headers=HTML).text
    assert f"/planner/questions/{query_id}" in history and "waiting for the sites" in history
    # another planner's question is not theirs to read; the DPO may
    assert city.client.get(f"/planner/questions/{query_id}",
                           headers=city.as_("dpo")).status_code == 200


def test_a_refused_question_is_shown_with_the_reason_and_sends_nothing(city: World) -> None:
    planner = browser_for(city, "planner")
    before = city.svc.audit.size()
    for changes, reason in (({"epsilon": "5"}, "at most epsilon 1"),
                            ({"end_day": "2026-09-30"}, "after its start"),
                            ({"epsilon": "many"}, "not a number"),
                            ({"kind": "faces"}, "choose a statistic")):
        page = planner.post("/planner/questions", data={
            **FORM, **changes, "csrf": planner.cookies["safecity_csrf"]})
        assert page.status_code in (409, 422), (changes, page.status_code)
        problem = re.search(r'id="ask-problem">([^<]*)<', page.text)
        assert problem and reason in problem.group(1), (changes, page.text[:200])
    assert not [e for e in city.svc.audit.entries(before, 100)
                if e.record.action is Action.QUERY_DISPATCHED]


def test_police_and_anonymous_are_refused_and_the_police_denial_is_audited(city: World
                                                                           ) -> None:
    anonymous = browser_for(city, None)
    for path in ("/planner", "/planner/questions/q-none"):
        sent = anonymous.get(path, headers=HTML)
        assert sent.status_code == 303 and sent.headers["location"].startswith("/login?next=")
    assert anonymous.post("/planner/questions", data=FORM).status_code == 401
    police = browser_for(city, "police")
    before = city.svc.audit.size()
    assert police.get("/planner", headers=HTML).status_code == 403
    assert police.get("/planner/cost?epsilon=0.5").status_code == 403
    assert police.post("/planner/questions", data={
        **FORM, "csrf": police.cookies["safecity_csrf"]}).status_code == 403
    denied = [e.record for e in city.svc.audit.entries(before, 100)]
    assert [r.action for r in denied] == [Action.ACCESS_DENIED] * 3
    assert {r.actor.role for r in denied} == {"police_analyst"}
    assert not [e for e in city.svc.audit.entries(0, 10_000)
                if e.record.action is Action.QUERY_DISPATCHED]


def test_a_dwell_histogram_and_a_window_of_several_days_are_labelled() -> None:
    cells = [{"camera": "gate", "zone": "square", "bucket": b, "value": v}
             for b, v in (("0-10s", 12), ("10-30s", 0), ("900s+", None))]
    node = {"node_id": "n1", "site_id": "site-a", "status": "answered", "reason": None,
            "detail": None, "mechanism": "discrete_gaussian", "noise_scale": "3.0",
            "epsilon": "1", "delta": "1e-06", "suppressed_below": 5, "epsilon_left": "0",
            "cells": cells}
    view = {"query_id": "q", "kind": "dwell_histogram", "epsilon": 1.0, "delta": 1e-6,
            "status": "complete", "nodes": [node],
            "window": {"start": "2026-10-01T00:00:00+00:00", "end": "2026-10-03T00:00:00+00:00"}}
    shown = answer_view(view, "UTC")
    assert shown["statistic"] == "Visits per dwell time, in each zone" and not shown["hourly"]
    k = dp_figures.half_width("discrete_gaussian", 3.0)
    assert 5 <= k <= 6  # about 1.96 sigma
    (series,) = shown["nodes"][0]["series"]
    assert [(p.label, p.value, p.low) for p in series["points"]] == [
        ("0-10s", 12, 12 - k), ("10-30s", 0, 0), ("900s+", None, None)]
    hourly = answer_view({**view, "kind": "zone_counts_hourly", "nodes": [{**node, "cells": [
        {**cells[0], "bucket": "2026-10-02T13:00:00+00:00"}]}]}, "UTC")
    assert hourly["nodes"][0]["series"][0]["points"][0].label == "10-02 13:00"
