"""Moments given in other offsets than UTC, on SQLite (which stores a datetime as text and
dropped the offset) and PostgreSQL: an event dated 10:00+05:00 is stored as the instant it is,
so the retention purge and the alert list compare it with moments in other offsets by time,
not by its digits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from coordinator.db import Alert
from coordinator.housekeeping import purge_alerts
from coordinator.service import as_utc
from tests.support.incident_events import event, send
from tests.support.world import World

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
EAST, WEST = timezone(timedelta(hours=5)), timezone(timedelta(hours=-5))
RETENTION = timedelta(days=90)  # the default alert_retention_days


@pytest.fixture(params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    db = (f"sqlite:///{tmp_path / 'coordinator.sqlite'}" if request.param == "sqlite"
          else request.getfixturevalue("postgres_url"))
    world = World(tmp_path, db, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                  f"db+sqlite:///{tmp_path / 'results.sqlite'}")
    world.set_time(NOW)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def test_moments_in_other_offsets_are_compared_as_instants(city: World) -> None:
    cutoff = NOW - RETENTION
    # past retention by 30 minutes, written 5 hours east (its digits read 4.5 h after the cutoff)
    old = (cutoff - timedelta(minutes=30)).astimezone(EAST)
    # within retention by 30 minutes, written 5 hours west (its digits read 4.5 h before it)
    recent = (cutoff + timedelta(minutes=30)).astimezone(WEST)
    # sent an hour before: both within retention then (an event already past it is stale,
    # never stored, red team 3), compared as instants too
    city.set_time(NOW - timedelta(hours=1))
    stored = send(city, [event(old, rule="old"), event(recent, rule="recent", camera="lobby")])
    assert (len(stored.alerts), stored.stale) == (2, 0)
    city.set_time(NOW)
    with city.svc.session() as session:
        times = {a.rule: a.time for a in session.scalars(select(Alert))}
    for rule, moment in (("old", old), ("recent", recent)):
        assert as_utc(times[rule]) == moment  # the instant (SQLite reads it back naive: UTC)
    assert purge_alerts(city.svc) == 1
    with city.svc.session() as session:
        assert [a.rule for a in session.scalars(select(Alert))] == ["recent"]
