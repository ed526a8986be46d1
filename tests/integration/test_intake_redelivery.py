"""The flood limit and a redelivered batch, on real PostgreSQL: the same batch taken again (a
worker that stopped before acknowledging it, the audit log away at the refusal, two workers
handed it at once) is charged once, its refusal audited and counted once, and the events it
was granted are stored, not refused the second time."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from audit.records import Action
from coordinator.alert_intake import Intake, accept
from coordinator.db import Alert, IntakeBucket
from coordinator.intake_limit import REFUSED
from tests.support.incident_events import batch, event
from tests.support.world import World

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)  # the coordinator's clock, fixed: nothing refills


@pytest.fixture
def city(tmp_path: Path, postgres_url: str) -> Iterator[World]:
    world = World(tmp_path, postgres_url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                  f"db+sqlite:///{tmp_path / 'results.sqlite'}",
                  options={"node_events_per_minute": 60, "node_event_burst": 5})
    world.set_time(LATER)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def refusals(world: World) -> list[dict[str, str]]:
    return [world.svc.audit.details(e.index) for e in world.svc.audit.entries(0, 100_000)
            if e.record.action is Action.ACCESS_DENIED and e.record.outcome == REFUSED]


def stored(world: World) -> int:
    with world.svc.session() as session:
        return len(session.scalars(select(Alert.id)).all())


def tokens(world: World) -> float:
    with world.svc.session() as session:
        return session.scalars(select(IntakeBucket.tokens)).one()


def flood(world: World) -> dict[str, Any]:
    """One signed batch of 12 new events: 5 within the bucket, 7 past it."""
    return batch(world, [event(T0, rule=f"flood-{n}") for n in range(12)])


def test_a_batch_taken_again_is_not_charged_or_refused_again(city: World) -> None:
    message = flood(city)
    first = accept(city.svc, message)
    assert (len(first.alerts), first.refused) == (5, 7)
    left = tokens(city)
    again = accept(city.svc, message)  # redelivered: the broker never saw the acknowledgement
    assert (again.alerts, again.duplicates, again.refused) == ([], 5, 0)
    assert tokens(city) == left
    assert len(refusals(city)) == 1 and stored(city) == 5


def test_a_batch_redelivered_after_the_audit_log_failed_stores_what_it_was_granted(
        city: World, monkeypatch: pytest.MonkeyPatch) -> None:
    message = flood(city)
    log = city.svc.log

    def away(*_: object, **__: object) -> None:
        raise OSError("the audit log is unreachable")

    monkeypatch.setattr(city.svc, "log", away)
    with pytest.raises(OSError):
        accept(city.svc, message)  # the refusal could not be audited: the task fails
    monkeypatch.setattr(city.svc, "log", log)
    again = accept(city.svc, message)  # the broker hands the batch over again
    assert (len(again.alerts), again.refused) == (5, 7)  # granted before: stored, not refused
    [refusal] = refusals(city)
    assert json.loads(refusal["refused"]) == "7"
    assert accept(city.svc, message).refused == 0  # audited now: once
    assert len(refusals(city)) == 1 and stored(city) == 5


def test_two_workers_taking_the_same_batch_at_once_charge_it_once(city: World) -> None:
    message = flood(city)
    start, got = threading.Barrier(2), []

    def worker() -> None:
        start.wait()
        got.append(accept(city.svc, message))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    outcomes: list[Intake] = got
    assert sum(len(i.alerts) for i in outcomes) == 5
    assert sum(i.refused for i in outcomes) == 7
    assert len(refusals(city)) == 1 and stored(city) == 5
