"""Anyone can be refused, so anonymous refusals must not grow the permanent public log one entry
each: they are counted per source and interval and logged as one entry per interval, and a
source past its limit gets 429. Signed-in people's denials stay individual entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from audit.records import DENIALS_COUNTED, Action, occurrences
from audit.transparency import transparency_report
from coordinator import denials
from coordinator.db import DenialTally
from coordinator.housekeeping import housekeeping
from tests.support.world import World, embedded_world

LIMIT = 40
INTERVAL = 60
OPTIONS = {"anonymous_denials_per_address": LIMIT, "denial_interval_seconds": INTERVAL}


@pytest.fixture
def city(tmp_path):
    world = embedded_world(tmp_path, options=OPTIONS)
    # the start of an interval, so the flood below falls in one
    world.set_time(datetime(2026, 12, 5, 10, 0, 1, tzinfo=UTC))
    yield world
    world.close()


def records(world: World) -> list:
    return [e.record for e in world.svc.audit.entries(0, 100_000)]


def counted(world: World) -> list:
    return [r for r in records(world)
            if r.action is Action.ACCESS_DENIED and r.outcome == DENIALS_COUNTED]


def test_an_anonymous_flood_becomes_one_entry_and_429s(city: World) -> None:
    before = city.svc.audit.size()
    answers = [city.client.get(f"/queries/x{i}") for i in range(300)]
    assert [a.status_code for a in answers] == [401] * LIMIT + [429] * (300 - LIMIT)
    limited = answers[-1]
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["code"] == "rate_limited"
    assert 0 < int(limited.headers["retry-after"]) <= INTERVAL
    assert city.svc.audit.size() == before  # nothing permanent yet: counted in the database
    assert denials.pending(city.svc) == {(denials.OTHER, "unauthenticated"): 300}

    # a person signed in and refused is accountable: logged at once, one entry, as before
    refused = city.client.get("/webhooks", headers=city.as_("police"))
    assert refused.status_code == 403
    assert records(city)[-1].outcome == "forbidden" and records(city)[-1].actor.role != "none"

    # the next interval: its first denial writes the last interval's one entry
    city.set_time(datetime(2026, 12, 5, 10, 1, 5, tzinfo=UTC))
    assert city.client.get("/queries/late").status_code == 401
    [entry] = counted(city)
    assert entry.counts_returned == 300 and entry.actor.pseudonym == "anonymous"
    index = next(e.index for e in city.svc.audit.entries(before, 10_000)
                 if e.record.outcome == DENIALS_COUNTED)
    details = {k: json.loads(v) for k, v in city.svc.audit.details(index).items()}
    assert details["networks"] == {denials.OTHER: {"unauthenticated": 300}}
    assert details["interval_start"] == "2026-12-05T10:00:00+00:00"
    assert city.svc.audit.size() - before <= 3
    assert denials.pending(city.svc) == {(denials.OTHER, "unauthenticated"): 1}

    # the transparency report counts every denial, aggregated or not
    report = transparency_report(records(city), b"")
    assert report["actions_by_month"]["2026-12"]["access_denied"] == sum(
        occurrences(r) for r in records(city) if r.action is Action.ACCESS_DENIED) == 300 + 1

    # nobody is refused again: the housekeeping job writes the open count once it is over
    city.set_time(datetime(2026, 12, 5, 10, 3, 0, tzinfo=UTC))
    housekeeping(city.svc)
    assert [r.counts_returned for r in counted(city)] == [300, 1]
    assert denials.pending(city.svc) == {}
    housekeeping(city.svc)
    assert len(counted(city)) == 2


def test_sources_and_networks() -> None:
    assert denials.source_of("203.0.113.9") == "203.0.113.9"
    assert denials.source_of("::ffff:203.0.113.9") == "203.0.113.9"
    assert denials.source_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert denials.source_of("testclient") == denials.OTHER
    assert denials.network_of("203.0.113.9") == "203.0.113.0/24"
    assert denials.network_of("2001:db8:1:2::/64") == "2001:db8:1::/48"


def test_a_flush_that_died_is_taken_over_and_nothing_is_lost(city: World) -> None:
    """A flush claims its rows before it logs: a second flush does not log them again, and a
    claim left by a flush that died is taken over once its lease is over."""
    for _ in range(5):
        city.client.get("/warrants")
    city.set_time(datetime(2026, 12, 5, 10, 1, 5, tzinfo=UTC))
    with city.svc.session() as session:  # a flush claimed the rows, then its process died
        session.execute(update(DenialTally).values(
            claim="dead-flush", claimed_at=int(city.clock().timestamp())))
    assert city.client.get("/warrants").status_code == 401  # a new count, not the held one
    assert counted(city) == []
    city.set_time(city.clock() + timedelta(seconds=denials.CLAIM_LEASE_SECONDS + 1))
    housekeeping(city.svc)
    assert sorted(r.counts_returned for r in counted(city)) == [1, 5]
    assert denials.pending(city.svc) == {}
