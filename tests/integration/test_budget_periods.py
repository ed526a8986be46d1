"""The privacy budget's periods through a real node: its ledger (SQLite) and its inbox answering
questions the coordinator signed. A spent month refuses, the next month allows, the lifetime
cap refuses for good; a compromised coordinator (it holds the dispatch key and its own clock)
cannot date, replay or re-sign its way past either; the budget reaches the planner's API and
the public portal as the node stated it."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from audit.records import Action
from contract.aggregates import (
    AggregateKind,
    AggregateRequest,
    SignedAggregateRequest,
    SignedAggregateResult,
)
from contract.warrants import Window
from nodes.config import load_settings
from nodes.events import EventStore
from nodes.inbox import Inbox
from tests.support.world import World, embedded_world
from tests.unit.test_aggregates import ZONES

WINDOW_START = datetime(2026, 10, 1, tzinfo=UTC)
BUDGET = ('privacy_budget = {period_epsilon = 1.0, lifetime_epsilon = 2.0, '
          'time_zone = "Europe/Berlin"}\ndp_suppress_below = 0\n')


@pytest.fixture
def city(tmp_path: Path):
    world = embedded_world(tmp_path)
    node = world.add_node("alpha", "site-a", analytics=ZONES, extra=BUDGET)
    store = EventStore(node.settings.stores.events)
    store.add_visits("gate", [("square", WINDOW_START + timedelta(hours=h), 20.0)
                              for h in range(48)])
    store.close()
    yield world
    world.close()


def question(world: World, epsilon: float, issued_at: datetime,
             query_id: str | None = None, days: int = 2) -> dict[str, Any]:
    """A question signed with the coordinator's dispatch key, dated as the signer chooses."""
    node = world.nodes["alpha"]
    request = AggregateRequest(
        query_id=query_id or str(uuid.uuid4()), node_id=node.node_id, site="site-a",
        kind=AggregateKind.ZONE_COUNTS_HOURLY, cameras=("gate",),
        window=Window(start=WINDOW_START, end=WINDOW_START + timedelta(days=days)),
        epsilon=Decimal(str(epsilon)), delta=Decimal(0), issued_at=issued_at, log_index=0)
    return SignedAggregateRequest(request=request, signature=request.sign(
        world.svc.keys.dispatch)).model_dump(mode="json")


def answer(inbox: Inbox, message: dict[str, Any]) -> dict[str, Any]:
    return SignedAggregateResult.model_validate(
        inbox.aggregates.answer(message)).result.model_dump(mode="json")


def test_a_spent_month_refuses_the_next_allows_and_the_lifetime_cap_refuses(city: World
                                                                             ) -> None:
    def ask(epsilon: float, moment: datetime) -> dict[str, Any]:
        city.set_time(moment)  # the coordinator's clock and the node's
        return answer(city.service("alpha"), question(city, epsilon, moment))

    november = ask(0.6, datetime(2026, 11, 30, 22, 30, tzinfo=UTC))  # 23:30 in Berlin
    assert november["status"] == "answered" and november["epsilon_left"] == "0.4"
    budget = november["budget"]
    assert (budget["period"], budget["time_zone"], budget["period_label"]) == (
        "month", "Europe/Berlin", "2026-11")
    assert budget["period_end"] == "2026-11-30T23:00:00Z"  # midnight in Berlin
    assert (budget["period_epsilon"], budget["period_epsilon_spent"],
            budget["period_epsilon_left"]) == ("1.0", "0.6", "0.4")
    assert (budget["lifetime_epsilon"], budget["lifetime_epsilon_spent"],
            budget["lifetime_epsilon_left"]) == ("2.0", "0.6", "1.4")

    spent = ask(0.6, datetime(2026, 11, 30, 22, 59, tzinfo=UTC))
    assert spent["status"] == "refused" and spent["reason"] == "budget_exceeded"
    assert "period 2026-11" in spent["detail"] and spent["cells"] == []
    assert spent["budget"]["period_epsilon_left"] == "0.4"

    december = ask(0.6, datetime(2026, 11, 30, 23, 0, 1, tzinfo=UTC))  # 1 December in Berlin
    assert december["status"] == "answered" and december["budget"]["period_label"] == "2026-12"
    assert december["budget"]["period_epsilon_spent"] == "0.6"
    assert december["budget"]["lifetime_epsilon_spent"] == "1.2"

    assert ask(0.6, datetime(2027, 1, 15, tzinfo=UTC))["status"] == "answered"
    february = ask(0.6, datetime(2027, 2, 15, tzinfo=UTC))  # a fresh month, the cap nearly spent
    assert february["status"] == "refused" and "lifetime cap" in february["detail"]
    assert (february["budget"]["period_epsilon_left"], february["budget"]["lifetime_epsilon_left"],
            february["budget"]["epsilon_left"]) == ("1.0", "0.2", "0.2")
    assert ask(0.2, datetime(2027, 2, 16, tzinfo=UTC))["status"] == "answered"
    assert ask(0.1, datetime(2027, 6, 1, tzinfo=UTC))["status"] == "refused"  # for good

    outcomes = [e.record.outcome for e in city.service("alpha").audit.entries()
                if e.record.action is Action.AGGREGATE_RELEASED]
    assert outcomes == ["released", "budget_exceeded", "released", "released",
                        "budget_exceeded", "released", "budget_exceeded"]


def test_a_compromised_coordinator_cannot_date_replay_or_resign_past_the_budget(
        city: World) -> None:
    """It holds the dispatch key and its own clock, not the node's clock."""
    node_now = [datetime(2026, 11, 30, 22, 0, tzinfo=UTC)]  # 23:00 in Berlin, November
    inbox = Inbox.open(city.nodes["alpha"].settings, clock=lambda: node_now[0])
    try:
        first = question(city, 1.0, node_now[0])
        answered = answer(inbox, first)
        assert answered["status"] == "answered" and answered["budget"]["epsilon_left"] == "0.0"
        # dated in December by the coordinator: refused before anything is spent
        lied = answer(inbox, question(city, 0.5, datetime(2026, 12, 1, 0, 0, tzinfo=UTC)))
        assert lied["status"] == "refused" and lied["reason"] == "bad_message"
        # dated just inside the node's skew, an hour's distance from Berlin's midnight: the
        # node's clock still says November
        near = answer(inbox, question(city, 0.5, node_now[0] + timedelta(seconds=60)))
        assert near["reason"] == "budget_exceeded" and "2026-11" in near["detail"]
        # replayed as it was: the same answer, spent once
        assert answer(inbox, first) == answered
        # the same question signed again under new ids, with windows in other months
        for days in (1, 2, 30):
            again = answer(inbox, question(city, 1.0, node_now[0], days=days))
            assert again["reason"] == "budget_exceeded"
        # a thousand tiny questions add up like one large one
        tiny = [answer(inbox, question(city, 0.001, node_now[0]))["status"] for _ in range(3)]
        assert tiny == ["refused"] * 3
        state = inbox.aggregates.budget.state()
        assert state.period.label == "2026-11" and state.lifetime_spent.epsilon == 1.0
        # the node's clock reaches December: December's budget, and only December's
        node_now[0] = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
        assert answer(inbox, question(city, 1.0, node_now[0]))["status"] == "answered"
        assert answer(inbox, question(city, 0.1, node_now[0]))["reason"] == "budget_exceeded"
        # a node clock set back (a bad NTP answer) does not reopen November's budget
        node_now[0] = datetime(2026, 11, 15, tzinfo=UTC)
        back = answer(inbox, question(city, 0.5, node_now[0]))
        assert back["reason"] == "budget_exceeded" and back["budget"]["period_label"] == "2026-12"
        assert inbox.aggregates.budget.state().lifetime_spent.epsilon == 2.0
    finally:
        inbox.close()


def test_the_budget_reaches_the_planner_api_and_the_portal(city: World) -> None:
    planner = city.as_("planner")
    assert city.client.get("/aggregates/budgets", headers=planner).json() == {"nodes": [{
        "node_id": city.nodes["alpha"].node_id, "site_id": "site-a", "query_id": None,
        "reported_at": None, "period_ended": False, "epsilon_left_estimate": None,
        "budget": None}]}
    assert city.client.get("/aggregates/budgets", headers=city.as_("police")
                           ).status_code == 403
    city.start_worker("alpha")
    window = {"start": WINDOW_START.isoformat(),
              "end": (WINDOW_START + timedelta(days=1)).isoformat()}
    asked = city.client.post("/aggregates", headers=planner,
                             json={"kind": "zone_counts_hourly", "window": window,
                                   "epsilon": 0.25})
    assert asked.status_code == 202, asked.text
    query_id, deadline = asked.json()["query_id"], time.monotonic() + 60
    while (view := city.client.get(f"/aggregates/{query_id}?wait=5", headers=planner).json()
           )["status"] != "complete":
        assert time.monotonic() < deadline, city.worker_log("alpha")
    node = view["nodes"][0]
    assert node["status"] == "answered" and node["budget"]["period_epsilon_spent"] == "0.25"
    listed = city.client.get("/aggregates/budgets", headers=planner).json()["nodes"][0]
    assert listed["query_id"] == query_id and listed["budget"] == node["budget"]
    assert listed["epsilon_left_estimate"] == "0.75" and not listed["period_ended"]
    label = listed["budget"]["period_label"]
    page = city.client.get("/portal").text
    assert 'id="budget-periods"' in page and f"{label} (calendar month, Europe/Berlin" in page
    assert "0.25 of 1.0" in page and "0.25 of 2.0" in page
    dpo_page = city.client.get("/console/budgets", headers=city.as_("dpo")).text
    assert 'id="budget-periods"' in dpo_page and "0.25 of 1.0" in dpo_page
    # the coordinator's clock past the node's period: the page says a new period has begun
    city.set_time(datetime.fromisoformat(listed["budget"]["period_end"]) + timedelta(hours=1))
    later = city.client.get("/aggregates/budgets", headers=city.as_("planner")).json()
    assert later["nodes"][0]["period_ended"] and later["nodes"][0]["epsilon_left_estimate"] == (
        "1.0")
    assert "a new period has begun" in city.client.get("/portal").text


def test_a_changed_budget_is_logged_once_when_the_node_starts_under_it(city: World) -> None:
    """Raising the lifetime cap in node.toml, then lowering it back: each change is one
    config_change entry in the node's own audit log with the old and new terms, however often
    the node starts under it; the first policy a node runs under is no change."""
    node = city.nodes["alpha"]

    def start(budget: str) -> list[dict[str, Any]]:
        node.config.write_text(node.config.read_text().replace(BUDGET, budget))
        for _ in range(2):  # two starts (workers) under one policy
            Inbox.open(load_settings(node.config), clock=city.clock).close()
        node.config.write_text(node.config.read_text().replace(budget, BUDGET))
        inbox = Inbox.open(node.settings)
        try:
            return [{name: json.loads(value) for name, value in inbox.audit.details(
                e.index).items()} for e in inbox.audit.entries()
                    if e.record.action is Action.CONFIG_CHANGE
                    and e.record.outcome == "privacy_budget_changed"]
        finally:
            inbox.close()

    as_enrolled = {"period_epsilon": "1.0", "period_delta": "1e-05", "lifetime_epsilon": "2.0",
                   "lifetime_delta": "6e-05", "time_zone": "Europe/Berlin"}
    assert start(BUDGET) == []
    raised = BUDGET.replace("lifetime_epsilon = 2.0", "lifetime_epsilon = 3.5")
    changes = start(raised)  # raised twice, then back: two changes
    assert changes == [
        {"setting": "privacy_budget", "old": as_enrolled,
         "new": {**as_enrolled, "lifetime_epsilon": "3.5"}},
        {"setting": "privacy_budget", "old": {**as_enrolled, "lifetime_epsilon": "3.5"},
         "new": as_enrolled}]
    assert start(BUDGET) == changes  # started again as it was: nothing new
