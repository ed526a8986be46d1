"""Planners' aggregate questions with differential privacy: asked at the coordinator, answered by
the node worker from its own visits with noise it adds itself, spent from its persisted budget,
refused past it, every release in both audit logs; and the released counts' error matches the
noise scale the answer states."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.records import Action
from contract.aggregates import (
    MIN_EPSILON,
    AggregateKind,
    AggregateRequest,
    SignedAggregateRequest,
    SignedAggregateResult,
)
from contract.warrants import Window
from nodes.events import EventStore
from nodes.inbox.aggregates import hours, true_counts
from privacy.dp.mechanisms import gaussian_variance, laplace_scale
from privacy.signing import SigningKey
from tests.support.world import World, embedded_world

ZONES = ('[cameras.analytics]\nzones = [{id = "square", polygon = [[0, 0], [1, 0], [1, 1], '
         '[0, 1]]}]\n')
START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
PER_HOUR = 40


@pytest.fixture
def city(tmp_path: Path):
    world = embedded_world(tmp_path)
    node = world.add_node("alpha", "site-a", analytics=ZONES,
                          extra="privacy_budget = {period_epsilon = 2.0}\n"
                          "dp_suppress_below = 0\n")
    store = EventStore(node.settings.stores.events)
    for camera in ("gate", "lobby"):  # PER_HOUR visits starting in every hour, dwell 20 s
        store.add_visits(camera, [("square", START + timedelta(minutes=60 * h + m % 60), 20.0)
                                  for h in range(DAYS * 24) for m in range(PER_HOUR)])
    store.close()
    yield world
    world.close()


def ask(world: World, epsilon: float, delta: float = 0.0, key: SigningKey | None = None,
        days: int = DAYS, kind: AggregateKind = AggregateKind.ZONE_COUNTS_HOURLY) -> dict:
    node = world.nodes["alpha"]
    request = AggregateRequest(
        query_id=str(uuid.uuid4()), node_id=node.node_id, site="site-a", kind=kind,
        cameras=("gate", "lobby"), window=Window(start=START, end=START + timedelta(days=days)),
        epsilon=epsilon, delta=delta, issued_at=datetime.now(UTC), log_index=0)
    signed = SignedAggregateRequest(request=request,
                                    signature=request.sign(key or world.svc.keys.dispatch))
    return signed.model_dump(mode="json")


def answered(world: World, message: dict) -> dict:
    reply = SignedAggregateResult.model_validate(world.service("alpha").aggregates.answer(message))
    return reply.result.model_dump(mode="json")


def test_cells_are_fixed_by_the_question_and_count_each_visit_once() -> None:
    window_end = START + timedelta(hours=3)
    visits = [("gate", "square", START + timedelta(minutes=5), 12.0),
              ("gate", "square", START + timedelta(minutes=65), 400.0),
              ("gate", "other", START, 1.0)]  # a zone the question does not cover
    hourly = true_counts(AggregateKind.ZONE_COUNTS_HOURLY, {"gate": ["square"]}, START,
                         window_end, visits)
    assert list(hourly.values()) == [1, 1, 0] and len(hours(START, window_end)) == 3
    dwell = true_counts(AggregateKind.DWELL_HISTOGRAM, {"gate": ["square"]}, START, window_end,
                        visits)
    assert dwell[("gate", "square", "10-30s")] == 1 and dwell[("gate", "square", "300-900s")] == 1
    assert sum(dwell.values()) == 2


def test_released_error_matches_the_stated_noise_scale(city: World) -> None:
    """Mean absolute error over 1,440 hourly cells against the mechanism's own formula:
    discrete Laplace E|X| = 2q/(1-q^2), q = exp(-1/b); discrete Gaussian ~ sigma sqrt(2/pi).
    With 1,440 cells the estimate's relative standard error is about 3%; the bound is 15%."""
    laplace = answered(city, ask(city, epsilon=0.5))
    assert laplace["status"] == "answered" and laplace["mechanism"] == "discrete_laplace"
    b = float(laplace["noise_scale"])
    assert b == pytest.approx(float(laplace_scale(1, 0.5)))
    errors = [abs(c["value"] - PER_HOUR) for c in laplace["cells"]]
    assert len(errors) == 2 * DAYS * 24
    q = math.exp(-1 / b)
    assert sum(errors) / len(errors) == pytest.approx(2 * q / (1 - q * q), rel=0.15)

    gaussian = answered(city, ask(city, epsilon=1.0, delta=1e-6))
    sigma = float(gaussian["noise_scale"])
    assert gaussian["mechanism"] == "discrete_gaussian"
    assert sigma == pytest.approx(math.sqrt(float(gaussian_variance(1, 1.0, 1e-6))))
    errors = [abs(c["value"] - PER_HOUR) for c in gaussian["cells"]]
    assert sum(errors) / len(errors) == pytest.approx(sigma * math.sqrt(2 / math.pi), rel=0.15)
    assert gaussian["epsilon_left"] == "0.5"


def test_the_budget_refuses_and_nothing_else_leaks(city: World) -> None:
    first = ask(city, epsilon=1.5, kind=AggregateKind.DWELL_HISTOGRAM)
    result = answered(city, first)
    assert result["status"] == "answered"
    assert {c["bucket"] for c in result["cells"] if c["value"] and c["value"] > 100} == {"10-30s"}
    assert answered(city, first) == result  # delivered again: the same answer, spent once
    over = answered(city, ask(city, epsilon=1.0))
    assert over["status"] == "refused" and over["reason"] == "budget_exceeded"
    assert "0.5 and" in over["detail"] and over["cells"] == []
    forged = answered(city, ask(city, epsilon=0.1, key=SigningKey.generate()))
    assert forged["status"] == "refused" and forged["reason"] == "bad_message"
    too_long = answered(city, ask(city, epsilon=0.1, days=40))
    assert too_long["reason"] == "window_too_long"
    service = city.service("alpha")
    assert service.aggregates.budget.spent().epsilon == pytest.approx(1.5)
    outcomes = [e.record.outcome for e in service.audit.entries()
                if e.record.action is Action.AGGREGATE_RELEASED]
    assert outcomes == ["released", "budget_exceeded", "bad_message", "window_too_long"]


def _signed_raw(world: World, epsilon: str, delta: str = "0") -> dict:
    """A question the coordinator's key signed with any epsilon, past the model's checks (as a
    coordinator that skipped them, or an older one, would send it)."""
    from decimal import Decimal

    node = world.nodes["alpha"]
    request = AggregateRequest.model_construct(
        version=1, query_id=str(uuid.uuid4()), node_id=node.node_id, site="site-a",
        kind=AggregateKind.ZONE_COUNTS_HOURLY, cameras=("gate", "lobby"),
        window=Window(start=START, end=START + timedelta(hours=2)), epsilon=Decimal(epsilon),
        delta=Decimal(delta), issued_at=datetime.now(UTC), log_index=0)
    return {"request": request.model_dump(mode="json"),
            "signature": request.sign(world.svc.keys.dispatch)}


@pytest.mark.parametrize("epsilon", ["5E-324", "1E-400", "9.99E-7"])
def test_a_vanishing_epsilon_is_refused_and_nothing_is_spent(city: World, epsilon: str) -> None:
    """Red team 14: 5e-324 was recorded as spent, then the task died (OverflowError); 1E-400
    raised ValueError in the inbox."""
    refused = answered(city, _signed_raw(city, epsilon))
    assert refused["status"] == "refused" and refused["reason"] == "bad_message"
    assert city.service("alpha").aggregates.budget.spent().epsilon == 0
    assert answered(city, ask(city, epsilon=MIN_EPSILON))["status"] == "answered"


def test_parameters_without_a_finite_noise_scale_are_refused_before_the_spend(
        city: World) -> None:
    refused = answered(city, _signed_raw(city, "1", delta="5E-324"))
    assert refused["status"] == "refused" and refused["reason"] == "bad_parameters"
    assert city.service("alpha").aggregates.budget.spent().epsilon == 0


def test_a_failure_after_the_spend_is_a_logged_refusal_answered_once(
        city: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import nodes.inbox.aggregates as inbox

    def broken(*_: object, **__: object) -> None:
        raise OverflowError("noise")

    monkeypatch.setattr(inbox, "release_count", broken)
    message = ask(city, epsilon=0.5)
    failed = answered(city, message)
    assert failed["status"] == "refused" and failed["reason"] == "failed_after_spend"
    assert "spent epsilon 0.5" in failed["detail"] and failed["budget"] is not None
    service = city.service("alpha")
    assert service.aggregates.budget.spent().epsilon == pytest.approx(0.5)
    assert answered(city, message) == failed  # delivered again: the same refusal, spent once
    assert service.aggregates.budget.spent().epsilon == pytest.approx(0.5)
    outcomes = [e.record.outcome for e in service.audit.entries()
                if e.record.action is Action.AGGREGATE_RELEASED]
    assert outcomes == ["failed_after_spend"]


@pytest.mark.parametrize("epsilon", [5e-324, 1e-7, 0])
def test_the_coordinator_refuses_an_epsilon_under_the_minimum(city: World,
                                                              epsilon: float) -> None:
    asked = city.client.post("/aggregates", headers=city.as_("planner"), json={
        "kind": "zone_counts_hourly", "epsilon": epsilon,
        "window": {"start": START.isoformat(), "end": (START + timedelta(hours=2)).isoformat()}})
    assert asked.status_code == 422, asked.text
