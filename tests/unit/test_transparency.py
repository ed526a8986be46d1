"""The transparency report: computed from the public records of the verified log only; what a
training run, the budgets spent per site, searches and warrants come to; and `safecity audit
report`, which refuses to compute anything from a log that does not verify."""

from __future__ import annotations

import json

import pytest

from audit.records import (
    Action,
    Actor,
    Event,
    LegalBasis,
    PrivacyLoss,
    PublicRecord,
    Scope,
    TrainingRun,
    commit,
)
from audit.transparency import transparency_report

CITY = Actor(pseudonym="coordinator", role="system", agency="city")


def training(outcome: str, sites: tuple[str, ...], loss: float | None = None,
             rounds: int = 5, time: str = "2026-11-03T10:00:00Z") -> Event:
    return Event(actor=CITY, action=Action.TRAINING_RUN, legal_basis=LegalBasis.STATUTE,
                 purpose_code="model_training", outcome=outcome, scope=Scope(sites=sites),
                 privacy_loss=PrivacyLoss.of(loss, 1e-5) if loss is not None else None,
                 training=TrainingRun(run_id="trajectory-1", task="trajectory", rounds=rounds),
                 time=time)


def events() -> list[Event]:
    police = Actor(pseudonym="p1", role="police_analyst", agency="city-pd")
    return [
        training("started", ("site-a", "site-b", "site-c")),
        training("trained", ("site-a",), 2.98),
        training("dropped", ("site-b",), 3.0, rounds=4),
        training("declined", ("site-c",)),
        training("completed", ("site-a", "site-b"), time="2026-11-03T10:05:00Z"),
        Event(actor=CITY, action=Action.AGGREGATE_RELEASED, legal_basis=LegalBasis.STATUTE,
              purpose_code="planning", outcome="answered", scope=Scope(sites=("site-a",)),
              privacy_loss=PrivacyLoss.of(0.5), time="2026-12-01T09:00:00Z"),
        Event(actor=police, action=Action.QUERY_DISPATCHED, legal_basis=LegalBasis.WARRANT,
              warrant_id="w-1", purpose_code="stolen-vehicle", outcome="dispatched",
              time="2026-12-01T09:10:00Z"),
        Event(actor=police, action=Action.WARRANT_REGISTERED, legal_basis=LegalBasis.WARRANT,
              warrant_id="w-1", outcome="registered", time="2026-11-30T09:10:00Z"),
    ]


def test_a_training_and_the_budget_per_site_are_counted_from_public_records() -> None:
    records = [commit(e)[0] for e in events()]
    report = transparency_report(records, b"\x01" * 32)
    assert report["checkpoint"] == {"size": 8, "root": "01" * 32}
    (run,) = report["trainings"]
    assert run["run_id"] == "trajectory-1" and run["task"] == "trajectory"
    assert run["status"] == "completed" and run["finished"] == "2026-11-03T10:05:00.000000Z"
    assert run["sites"] == {
        "site-a": {"outcome": "trained", "epsilon": 2.98, "delta": 1e-5},
        "site-b": {"outcome": "dropped", "epsilon": 3.0, "delta": 1e-5},
        "site-c": {"outcome": "declined", "epsilon": 0.0, "delta": 0.0}}
    assert report["privacy_budget_spent"] == {
        "site-a": {"training": 2.98, "aggregates": 0.5, "total": pytest.approx(3.48)},
        "site-b": {"training": 3.0, "total": 3.0}}
    assert report["searches_by_purpose"] == {"2026-12": {"stolen-vehicle": 1}}
    assert report["warrants_by_month"] == {"2026-11": {"warrant_registered": 1}}
    assert report["actions_by_month"]["2026-11"]["training_run"] == 5


def test_privacy_loss_is_a_public_decimal_and_old_records_read_unchanged() -> None:
    record = commit(training("trained", ("site-a",), 2.983812345))[0]
    leaf = json.loads(record.leaf_data())
    assert leaf["privacy_loss"] == {"epsilon": "2.98381", "delta": "0.00001"}
    assert leaf["training"] == {"run_id": "trajectory-1", "task": "trajectory", "rounds": 5}
    plain = commit(events()[-1])[0]
    assert b"privacy_loss" not in plain.leaf_data()  # leaves without it stay as they were
    assert PublicRecord.from_leaf(plain.leaf_data()) == plain
    with pytest.raises(ValueError):
        PrivacyLoss(epsilon="1e5")
    with pytest.raises(ValueError):
        PrivacyLoss.of(float("nan"))


def test_refusals_by_reason_and_the_recent_window_come_from_the_records() -> None:
    """The reason a check stopped a search is counted (the portal says it in words), and the
    recent window ends at the newest entry, not at the reader's clock: the same log gives the
    same numbers to anyone (verify.js counts it the same way)."""
    police = Actor(pseudonym="p1", role="police_analyst", agency="city-pd")
    stopped = Event(actor=police, action=Action.WARRANT_REFUSED, legal_basis=LegalBasis.WARRANT,
                    warrant_id="w-1", outcome="used_up", time="2026-12-20T09:00:00Z")
    records = [commit(e)[0] for e in [*events(), stopped]]
    report = transparency_report(records, b"")
    assert report["refusals_by_reason"] == {"2026-12": {"used_up": 1}}
    recent = report["recent"]
    assert recent["until"] == "2026-12-20T09:00:00.000000Z" and recent["days"] == 30
    # 2026-11-20 09:00 is the edge: December's search and statistics are in, November's not
    assert (recent["searches"], recent["statistics_released"], recent["stopped_at_a_check"],
            recent["warrants_registered"]) == (1, 1, 1, 1)
    assert transparency_report([], b"")["recent"]["until"] is None
