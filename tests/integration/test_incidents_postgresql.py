"""Incidents on PostgreSQL (the production database). Two intake workers grouping alerts of
the same key at once both find no current incident and both insert one: the unique constraint
on a key's current incident fails the second, whose batch is taken again and joins the first's
incident (a barrier holds each worker just before its insert, so the race happens every run).
And the migration that groups a database's open alerts runs on PostgreSQL as on SQLite; the
retention purge deletes alerts that have webhook and MQTT deliveries (the reference is enforced
here)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from coordinator import incident_grouping
from coordinator.alert_intake import accept
from coordinator.db import Alert, Incident
from tests.support.incident_events import batch, event, send
from tests.support.world import World
from tests.unit.test_incidents import upgrades_open_alerts_to_incidents

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@pytest.fixture
def city(tmp_path: Path, postgres_url: str):
    world = World(tmp_path, postgres_url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                  f"db+sqlite:///{tmp_path / 'results.sqlite'}")
    world.set_time(T0 + timedelta(days=1))  # the events' times are in the coordinator's past
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def test_two_workers_opening_the_same_incident_make_one(city: World,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    barrier = threading.Barrier(2, timeout=20)
    opened = Counter[str]()
    real = incident_grouping._opened

    def held(session: Any, key: Any, alert: Any) -> Incident:
        worker = threading.current_thread().name
        opened[worker] += 1
        if opened[worker] == 1:
            barrier.wait()  # both have looked for a current incident and found none
        return real(session, key, alert)

    monkeypatch.setattr(incident_grouping, "_opened", held)
    batches = [batch(city, [event(T0 + timedelta(seconds=n))]) for n in (0, 1)]
    failures: list[BaseException] = []

    def work(body: dict[str, Any]) -> None:
        try:
            accept(city.svc, body)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(b,), name=f"w{i}")
               for i, b in enumerate(batches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert sum(opened.values()) == 2  # both tried to open one: the race did happen
    with city.svc.session() as session:
        (incident,) = session.scalars(select(Incident)).all()
        linked = session.scalars(select(Alert.incident_id)).all()
    assert incident.alert_count == 2 and incident.current is True
    assert linked == [incident.id, incident.id]


def test_many_batches_at_once_count_every_alert_once(city: World) -> None:
    """Eight workers, four keys, alerts within the window: four incidents, counts adding up."""
    events = [event(T0 + timedelta(seconds=n), zone=f"z{n % 4}") for n in range(32)]
    bodies = [batch(city, events[i::8]) for i in range(8)]
    failures: list[BaseException] = []
    start = threading.Barrier(8, timeout=20)

    def work(body: dict[str, Any]) -> None:
        try:
            start.wait()
            accept(city.svc, body)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    send(city, [event(T0 + timedelta(seconds=40), zone="z0")])  # and one more, after them
    with city.svc.session() as session:
        counts = dict(session.execute(select(Incident.place, Incident.alert_count)).all())
        attached = session.scalar(select(Alert.id).where(Alert.incident_id.is_(None)))
    assert counts == {"z0": 9, "z1": 8, "z2": 8, "z3": 8} and attached is None


def test_an_existing_postgresql_database_gets_incidents_for_its_open_alerts(
        postgres_url: str) -> None:
    upgrades_open_alerts_to_incidents(postgres_url)


def test_alerts_with_webhook_deliveries_are_purged_past_their_retention(city: World) -> None:
    """PostgreSQL enforces the deliveries' reference to their alert: an alert that had a webhook
    or MQTT delivery is purged with them at the end of its retention period (it failed with a
    foreign key violation before), and a younger alert keeps its own."""
    from coordinator.db import Delivery, MqttDelivery, Webhook
    from coordinator.housekeeping import purge_alerts

    with city.svc.session() as session:
        session.add(Webhook(webhook_id="hook-1", url="https://signage.example/alerts", types=[],
                            secret="s" * 32, created_by="admin", created_at=T0))
    city.set_time(T0 + timedelta(days=6))
    send(city, [event(T0)])
    send(city, [event(T0 + timedelta(days=5), zone="square")])
    with city.svc.session() as session:
        assert len(session.scalars(select(Delivery)).all()) == 2
        # as the intake plans them when a broker is configured (this city has none)
        session.add_all([MqttDelivery(target="mqtt", alert_id=a, state="pending")
                         for a in session.scalars(select(Alert.id))])
    city.set_time(T0 + timedelta(days=city.settings.alert_retention_days, hours=1))
    assert purge_alerts(city.svc) == 1
    with city.svc.session() as session:
        (kept,) = session.scalars(select(Delivery)).all()
        assert session.get_one(Alert, kept.alert_id).zone == "square"
        (published,) = session.scalars(select(MqttDelivery)).all()
        assert published.alert_id == kept.alert_id
