"""The privacy budget's accounting periods: calendar months in a stated time zone (boundaries,
time zones, leap years), and the node's ledger enforcing both the period's budget and the
lifetime cap on its own clock (a clock set back does not reopen a spent period)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from nodes.config import NodeSettings
from nodes.privacy_ledger import MIGRATIONS, PrivacyLedger
from privacy.dp.accounting import Budget, BudgetExceeded, BudgetPolicy
from privacy.dp.periods import month_of, zone

UTC_ZONE = zone("UTC")
BERLIN = zone("Europe/Berlin")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("instant", "label", "start", "end"), [
    (at(2026, 12, 6, 6, 41), "2026-12", at(2026, 12, 1), at(2027, 1, 1)),  # year's end
    (at(2026, 12, 31, 23, 59, 59, 999999), "2026-12", at(2026, 12, 1), at(2027, 1, 1)),
    (at(2027, 1, 1), "2027-01", at(2027, 1, 1), at(2027, 2, 1)),  # the boundary is the new one
    (at(2028, 2, 29, 12), "2028-02", at(2028, 2, 1), at(2028, 3, 1)),  # leap year: 29 days
    (at(2027, 2, 28, 23, 59), "2027-02", at(2027, 2, 1), at(2027, 3, 1)),  # 28 days
    (at(2100, 2, 28, 23), "2100-02", at(2100, 2, 1), at(2100, 3, 1)),  # no leap year in 2100
])
def test_months_in_utc(instant: datetime, label: str, start: datetime, end: datetime) -> None:
    period = month_of(instant, UTC_ZONE)
    assert (period.label, period.start, period.end) == (label, start, end)
    assert instant in period and end not in period
    assert (end - start).days == {"02": 29 if label == "2028-02" else 28}.get(label[5:], 31)


def test_months_in_the_city_time_zone() -> None:
    # 22:30 UTC on 31 March is 00:30 on 1 April in Berlin (summer time, UTC+2)
    april = month_of(at(2026, 3, 31, 22, 30), BERLIN)
    assert april.label == "2026-04" and april.start == at(2026, 3, 31, 22)
    assert april.end == at(2026, 4, 30, 22)  # 1 May 00:00 CEST
    # 23:30 UTC on 31 January is 00:30 on 1 February in Berlin (winter time, UTC+1)
    assert month_of(at(2026, 1, 31, 22, 59), BERLIN).label == "2026-01"
    assert month_of(at(2026, 1, 31, 23), BERLIN).label == "2026-02"
    # March holds the change to summer time: 31 days less one hour
    march = month_of(at(2026, 3, 15), BERLIN)
    assert march.end - march.start == timedelta(days=31, hours=-1)
    # a zone ahead of UTC by more than half a day, and one behind it
    assert month_of(at(2026, 11, 30, 10), zone("Pacific/Kiritimati")).label == "2026-12"
    assert month_of(at(2026, 12, 1, 9), zone("Pacific/Honolulu")).label == "2026-11"
    # the instant's own offset does not matter, only the configured zone's calendar
    tokyo = datetime(2026, 12, 1, 8, 0, tzinfo=zone("Asia/Tokyo"))  # 23:00 UTC, 30 November
    assert month_of(tokyo, UTC_ZONE).label == "2026-11"
    with pytest.raises(ValueError, match="time zone"):
        month_of(datetime(2026, 12, 1), UTC_ZONE)


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Sao_Paulo",
                                  "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_periods_tile_time_without_gap_or_overlap(name: str) -> None:
    where = zone(name)
    period = month_of(at(2015, 12, 31, 12), where)
    for _ in range(12 * 15):  # fifteen years of months, DST changes and leap days included
        following = month_of(period.end, where)
        assert following.start == period.end and following.label > period.label
        assert month_of(period.end - timedelta(microseconds=1), where) == period
        assert timedelta(days=27) < period.end - period.start < timedelta(days=32)
        period = following


def test_the_settings_state_and_check_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = NodeSettings().privacy_budget
    assert (budget.period, budget.time_zone) == ("month", "UTC")
    assert budget.period_epsilon <= budget.lifetime_epsilon
    with pytest.raises(ValidationError, match="is not an IANA time zone"):
        NodeSettings(privacy_budget={"time_zone": "Mars/Olympus_Mons"})
    with pytest.raises(ValidationError, match=r"period_epsilon \(20\) cannot exceed "
                       r"lifetime_epsilon \(15\)"):
        NodeSettings(privacy_budget={"period_epsilon": 20, "lifetime_epsilon": 15})
    with pytest.raises(ValidationError, match=r"replaced by the \[privacy_budget\] table"):
        NodeSettings(privacy_epsilon=10)
    monkeypatch.setenv("SAFECITY_PRIVACY_EPSILON", "3")  # not ignored in silence either
    with pytest.raises(ValidationError, match=r"replaced by the \[privacy_budget\] table"):
        NodeSettings()
    monkeypatch.delenv("SAFECITY_PRIVACY_EPSILON")
    monkeypatch.setenv("SAFECITY_PRIVACY_BUDGET__LIFETIME_EPSILON", "30")
    assert NodeSettings().privacy_budget.lifetime_epsilon == 30
    with pytest.raises(ValidationError):
        NodeSettings(privacy_budget={"period": "year"})


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


POLICY = BudgetPolicy(Budget(1.0, 1e-5), Budget(2.5, 3e-5), "Europe/Berlin")


def test_a_spent_period_refuses_the_next_allows_and_the_lifetime_cap_ends_it(
        tmp_path: Path) -> None:
    clock = Clock(at(2026, 11, 30, 22, 30))  # 23:30 in Berlin, still November there
    ledger = PrivacyLedger(tmp_path / "privacy.sqlite", POLICY, "site-a", clock)
    assert ledger.spend(0.75, 0, "aggregate 1").period.label == "2026-11"
    with pytest.raises(BudgetExceeded, match=r"period 2026-11, Europe/Berlin.*0\.25 and") as no:
        ledger.spend(0.5, 0, "aggregate 2")
    assert no.value.cap == "period"
    clock.now = at(2026, 11, 30, 23)  # midnight in Berlin: December's budget
    december = ledger.spend(0.5, 0, "aggregate 2")
    assert december.period.label == "2026-12" and december.period_spent == Budget(0.5, 0)
    assert december.lifetime_spent == Budget(1.25, 0) and december.left.epsilon == 0.5
    clock.now = at(2026, 11, 30, 22)  # the clock set back to November: still December
    state = ledger.state()
    assert state.period.label == "2026-12" and state.as_of == at(2026, 11, 30, 23)
    with pytest.raises(BudgetExceeded):
        ledger.spend(0.75, 0, "November's budget again")
    clock.now = at(2027, 1, 10)
    ledger.spend(1.0, 0, "aggregate 3")
    clock.now = at(2027, 2, 10)  # a fresh period, but only 0.25 left for good
    state = ledger.state()
    assert state.period_left.epsilon == 1.0 and state.left.epsilon == pytest.approx(0.25)
    with pytest.raises(BudgetExceeded, match=r"lifetime cap, never renewed.*0\.25 and") as no:
        ledger.spend(0.5, 0, "aggregate 4")
    assert no.value.cap == "lifetime"
    ledger.close()
    reopened = PrivacyLedger(tmp_path / "privacy.sqlite", POLICY, "site-a", clock)
    assert reopened.spent() == Budget(2.25, 0)  # persisted; the refusals left no trace
    reopened.close()


def test_releases_recorded_before_periods_count_in_their_month_and_for_life(
        tmp_path: Path) -> None:
    path = tmp_path / "privacy.sqlite"
    with sqlite3.connect(path) as db:  # a version 1 ledger, as nodes wrote it before periods
        db.executescript(MIGRATIONS[0])
        db.executemany("INSERT INTO spends (at, purpose, epsilon, delta) VALUES (?, ?, ?, ?)", [
            ("2026-10-31T23:59:59.999999+00:00", "aggregate old", 0.5, 0.0),
            ("2026-11-01T00:00:00+00:00", "training r round 1", 0.25, 1e-5),
            ("2026-11-20T10:00:00.250000+00:00", "aggregate new", 0.125, 0.0)])
        db.execute("PRAGMA user_version = 1")
    ledger = PrivacyLedger(path, BudgetPolicy(Budget(1.0, 1e-5), Budget(2.5, 3e-5)), "site-a",
                           Clock(at(2026, 11, 25)))
    state = ledger.state()
    assert state.period.label == "2026-11" and state.period_spent == Budget(0.375, 1e-5)
    assert state.lifetime_spent == Budget(0.875, 1e-5)
    ledger.close()
