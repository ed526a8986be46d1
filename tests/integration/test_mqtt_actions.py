"""Alerts published to a real MQTT broker (Debian's mosquitto, TLS with a test CA, a password
file), received by a real subscriber: the documented topics and payload, retained occupancy, a
broker that goes away and returns (every alert arrives, each once), a wrong password (a clear
error, said once, and nothing lost)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from coordinator.config import MqttSettings
from coordinator.db import MqttDelivery
from coordinator.errors import DeliveryFailed
from coordinator.mqtt import Publisher, deliver
from tests.support.incident_events import event, send
from tests.support.mosquitto import PASSWORD, Broker, Subscriber
from tests.support.world import World, embedded_world

NOW = datetime.now(UTC).replace(microsecond=0)
EVENTS = "city/sites/site-a/cameras/gate/events/"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = Broker(tmp_path_factory.mktemp("mosquitto"))
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def city(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = embedded_world(tmp_path_factory.mktemp("city"),
                           options={"mqtt": broker.settings()})
    world.add_node("alpha", "site-a")
    yield world
    world.close()


@pytest.fixture
def publishers(broker: Broker) -> Iterator[list[Publisher]]:
    opened: list[Publisher] = []
    yield opened
    for publisher in opened:
        publisher.close()


def publisher_for(broker: Broker, opened: list[Publisher], **changes: object) -> Publisher:
    publisher = Publisher(MqttSettings(**broker.settings(
        client_id=f"coordinator-{len(opened)}-{time.monotonic_ns()}", **changes)))
    opened.append(publisher)
    return publisher


@pytest.fixture
def device(broker: Broker) -> Iterator[Subscriber]:
    subscriber = Subscriber(broker, "city/#")
    subscriber.ready()
    yield subscriber
    subscriber.close()


def delivered(city: World, publisher: Publisher, deliveries: list[int],
              timeout: float = 15) -> None:
    """Retry each delivery as the worker would, until all are delivered."""
    deadline = time.monotonic() + timeout
    waiting = list(deliveries)
    while waiting:
        try:
            deliver(city.svc, publisher, waiting[0])
            waiting.pop(0)
        except DeliveryFailed:
            assert time.monotonic() < deadline, f"not delivered: {waiting}"
            time.sleep(0.1)


def rows(city: World, ids: list[int]) -> list[MqttDelivery]:
    with city.svc.session() as session:
        return [session.get_one(MqttDelivery, i) for i in ids]


def events_of(got: list[tuple[str, Any, bool]]) -> list[dict[str, Any]]:
    return [payload for topic, payload, _ in got
            if topic.startswith(EVENTS) and isinstance(payload, dict)]


def test_an_alert_reaches_a_subscriber_on_its_topic(city: World, broker: Broker,
                                                    device: Subscriber,
                                                    publishers: list[Publisher]) -> None:
    publisher = publisher_for(broker, publishers)
    intake = send(city, [event(NOW, "restricted_area"), event(NOW, "loitering", zone="exit")])
    assert len(intake.mqtt) == 2  # every alert type, planned with the alerts
    delivered(city, publisher, intake.mqtt)
    deliver(city.svc, publisher, intake.mqtt[0])  # a redelivered task publishes nothing more

    got = device.wait_until(lambda got: len(events_of(got)) >= 2)
    assert ("city/availability", "online", False) in got or \
        ("city/availability", "online", True) in got
    sent = {p["id"]: p for p in events_of(got)}
    assert set(sent) == set(intake.alerts)
    restricted = sent[intake.alerts[0]]
    assert restricted["type"] == "restricted_area" and restricted["camera"] == "gate"
    assert restricted["severity"] == "medium" and restricted["zone"] == "platform"
    assert restricted["incident_id"] == intake.incidents[0]
    # the alert's public fields only: no track tokens, no staff names
    assert not {"tokens", "assigned_to", "handled_by", "node_id"} & set(restricted)
    topics = {topic for topic, *_ in got}
    assert f"{EVENTS}restricted_area" in topics and f"{EVENTS}loitering" in topics
    time.sleep(0.3)
    assert len(events_of(device.got)) == 2
    assert [(r.state, r.attempts) for r in rows(city, intake.mqtt)] == [("delivered", 1)] * 2


def test_occupancy_is_retained_for_devices_that_connect_later(
        city: World, broker: Broker, publishers: list[Publisher]) -> None:
    publisher = publisher_for(broker, publishers)
    crowd = replace(event(NOW, "occupancy", zone="square"), count=37)
    intake = send(city, [crowd])
    delivered(city, publisher, intake.mqtt)

    later = Subscriber(broker, "city/sites/site-a/cameras/gate/occupancy/#")
    try:
        [(topic, state, retained)] = later.wait_for(1)
    finally:
        later.close()
    assert topic == "city/sites/site-a/cameras/gate/occupancy/square" and retained
    assert state["count"] == 37 and state["alert_id"] == intake.alerts[0]


def test_a_broker_that_goes_away_and_returns_gets_every_alert_once(
        city: World, broker: Broker, publishers: list[Publisher],
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    # a device with a persistent session: the broker keeps its subscription and its messages
    # across the restart (mosquitto's persistence), as a device that must miss nothing would
    device = Subscriber(broker, "city/sites/#", clean=False)
    device.ready()
    publisher = publisher_for(broker, publishers)
    assert publisher.connected.wait(10)
    broker.stop()
    deadline = time.monotonic() + 10
    while publisher.connected.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.05)

    intake = send(city, [event(NOW, "restricted_area", zone=f"gate-{n}") for n in range(4)])
    with caplog.at_level(logging.WARNING, logger="coordinator.mqtt"):
        for _ in range(3):  # the worker's retries, during the outage
            for delivery in intake.mqtt:
                with pytest.raises(DeliveryFailed, match="broker"):
                    deliver(city.svc, publisher, delivery)
            time.sleep(1.1)  # the client's reconnect attempts fail meanwhile
    said = [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and "unavailable" in r.getMessage()]
    assert len(said) == 1, said  # one outage, said once, not once per try
    assert publisher.outages == 1 and not publisher.connected.is_set()
    assert all(r.state == "pending" and r.attempts == 3 and r.last_error
               for r in rows(city, intake.mqtt))

    broker.start()
    try:
        delivered(city, publisher, intake.mqtt)
        device.wait_until(lambda got: len(events_of(got)) >= 4)
        time.sleep(0.5)  # time for a duplicate to show
        got = Counter(p["id"] for p in events_of(device.got))
    finally:
        device.close()
    assert got == Counter(intake.alerts), got  # every alert, each once
    assert all(r.state == "delivered" for r in rows(city, intake.mqtt))


def test_a_wrong_password_is_a_clear_error_and_loses_nothing(
        city: World, broker: Broker, device: Subscriber, publishers: list[Publisher],
        caplog: pytest.LogCaptureFixture) -> None:
    wrong = "not-the-password-4711"
    with caplog.at_level(logging.DEBUG):
        refused = publisher_for(broker, publishers, password=wrong)
        intake = send(city, [event(NOW, "weapon", zone="bank")])
        time.sleep(2.5)  # the client tries again meanwhile
        with pytest.raises(DeliveryFailed, match="refused the coordinator's credentials"):
            deliver(city.svc, refused, intake.mqtt[0])
    said = [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and "unavailable" in r.getMessage()]
    assert len(said) == 1 and "credentials" in said[0], said
    assert wrong not in caplog.text and PASSWORD not in caplog.text
    [row] = rows(city, intake.mqtt)
    assert row.state == "pending" and "credentials" in (row.last_error or "")

    # the admin fixes the password (the worker restarts): the waiting alert goes out
    fixed = publisher_for(broker, publishers)
    delivered(city, fixed, intake.mqtt)
    got = device.wait_until(lambda got: any(p["id"] == intake.alerts[0]
                                             for p in events_of(got)))
    [sent] = [p for p in events_of(got) if p["id"] == intake.alerts[0]]
    assert sent["severity"] == "high" and sent["type"] == "weapon"
