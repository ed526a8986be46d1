"""Alerts published to a real MQTT broker (Debian's mosquitto, TLS with a test CA, a password
file), received by a real subscriber: the documented topics and payload, retained occupancy, a
broker that goes away and returns (every alert arrives, each once), a broker never reached (its
address named, said once, the intake and control room unaffected), a wrong password (a clear
error, said once, and nothing lost), and the whole path from a node's batch on Redis through
`safecity coordinator worker` to the subscriber, with its last will when it is killed."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select

from coordinator.config import MqttSettings
from coordinator.db import MqttDelivery
from coordinator.errors import DeliveryFailed
from coordinator.metrics import WorkerMetrics
from coordinator.mqtt import Publisher, deliver
from nodes.event_sender import EventSender, celery_publisher
from nodes.events import EventStore
from nodes.identity import load_identity
from tests.support.incident_events import event, send
from tests.support.mosquitto import PASSWORD, Broker, Subscriber
from tests.support.served import free_port
from tests.support.world import World, embedded_world

NOW = datetime.now(UTC).replace(microsecond=0)
EVENTS = "city/sites/site-a/cameras/gate/events/"
REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")


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
    assert [r.state for r in rows(city, intake.mqtt)] == ["delivered"] * 2


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
    metrics = WorkerMetrics()
    metrics.watch_mqtt(publisher)
    scraped = generate_latest(metrics.registry).decode()
    assert "safecity_mqtt_connected 0.0" in scraped
    assert "safecity_mqtt_outages_total 1.0" in scraped
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
    assert "safecity_mqtt_connected 1.0" in generate_latest(metrics.registry).decode()
    assert all(r.state == "delivered" for r in rows(city, intake.mqtt))


def test_a_broker_never_reached_is_named_once_and_the_room_keeps_working(
        city: World, broker: Broker, device: Subscriber, publishers: list[Publisher],
        caplog: pytest.LogCaptureFixture) -> None:
    """The settings name a port where no broker listens (issue 23's bad input): the outage is
    said once with the address, each try fails naming it, the alert waits; the intake, the
    incident list and the control room work meanwhile; the right port delivers the alert."""
    port = free_port()
    with caplog.at_level(logging.WARNING, logger="coordinator.mqtt"):
        away = publisher_for(broker, publishers, port=port)
        deadline = time.monotonic() + 10
        while away.problem is None:  # paho's first connection attempt, refused
            assert time.monotonic() < deadline
            time.sleep(0.05)
        intake = send(city, [event(NOW, "aggression", zone="square")])
        for _ in range(2):
            with pytest.raises(DeliveryFailed,
                               match=f"cannot connect to the broker at localhost:{port}"):
                deliver(city.svc, away, intake.mqtt[0])
            time.sleep(1.1)  # the client's reconnect attempts fail meanwhile
    said = [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and "unavailable" in r.getMessage()]
    assert len(said) == 1 and f"localhost:{port}" in said[0], said
    assert "refused, unreachable" in said[0]
    [row] = rows(city, intake.mqtt)
    assert row.state == "pending" and row.attempts == 2
    assert f"localhost:{port}" in (row.last_error or "")

    listed = city.client.get("/incidents", params={"type": "aggression"},
                             headers=city.as_("operator"))
    assert listed.status_code == 200, listed.text
    assert [i["id"] for i in listed.json()["incidents"]] == intake.incidents
    room = city.client.get("/control-room", headers=city.as_("operator"))
    assert room.status_code == 200 and "aggression" in room.text

    delivered(city, publisher_for(broker, publishers), intake.mqtt)
    got = device.wait_until(lambda got: any(p["id"] == intake.alerts[0]
                                             for p in events_of(got)))
    assert [p["type"] for p in events_of(got) if p["id"] == intake.alerts[0]] == ["aggression"]


def test_a_wrong_password_is_a_clear_error_and_loses_nothing(
        city: World, broker: Broker, device: Subscriber, publishers: list[Publisher],
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    wrong = "not-the-password-4711"
    secret = tmp_path / "mqtt-password"
    secret.write_text(wrong + "\n")
    with caplog.at_level(logging.DEBUG):
        refused = publisher_for(broker, publishers, password=None, password_file=str(secret))
        intake = send(city, [event(NOW, "weapon", zone="bank")])
        time.sleep(2.5)  # the client tries again meanwhile
        with pytest.raises(DeliveryFailed, match="refused the coordinator's credentials"):
            deliver(city.svc, refused, intake.mqtt[0])
        said = [r.getMessage() for r in caplog.records
                if r.levelno >= logging.WARNING and "unavailable" in r.getMessage()]
        assert len(said) == 1 and "credentials" in said[0], said
        [row] = rows(city, intake.mqtt)
        assert row.state == "pending" and "credentials" in (row.last_error or "")

        # the operator corrects the password file: the next attempt uses it, and the alert
        # that waited goes out
        secret.write_text(PASSWORD + "\n")
        delivered(city, refused, intake.mqtt, timeout=40)
    assert wrong not in caplog.text and PASSWORD not in caplog.text
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    got = device.wait_until(lambda got: any(p["id"] == intake.alerts[0]
                                             for p in events_of(got)))
    [sent] = [p for p in events_of(got) if p["id"] == intake.alerts[0]]
    assert sent["severity"] == "high" and sent["type"] == "weapon"


def test_a_node_event_reaches_a_subscriber_through_the_worker_process(
        broker: Broker, device: Subscriber, tmp_path: Path, postgres_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The production path: a node's signed batch on Redis, `safecity coordinator worker` (a
    process, its password from the environment) stores it and publishes it; killed, its last
    will says it is offline."""
    world = World(tmp_path, postgres_url, f"{REDIS}/10", f"{REDIS}/11")
    node = world.add_node("alpha", "site-a")
    store = EventStore(tmp_path / "events.sqlite")
    publish, close = celery_publisher(f"{REDIS}/10")
    sender = EventSender(store, publish, node.node_id, "site-a",
                         load_identity(node.settings.keys_dir).signing)
    monkeypatch.setenv("SAFECITY_COORDINATOR_MQTT__PASSWORD", PASSWORD)
    mqtt = broker.settings(client_id="coordinator-worker-process")
    table = "".join(f"{name} = {json.dumps(mqtt[name])}\n"
                    for name in ("host", "port", "ca_file", "username", "client_id",
                                 "topic_prefix"))
    try:
        store.add_many([event(NOW, "left_object", zone="lobby")])
        assert sender.send_pending() == 1
        world.start_coordinator_worker("[mqtt]\n" + table)
        got = device.wait_until(lambda got: any(p["type"] == "left_object"
                                                for p in events_of(got)), timeout=60)
        [sent] = [p for p in events_of(got) if p["type"] == "left_object"]
        log = (tmp_path / "coordinator-worker.log").read_text(errors="replace")
        assert sent["severity"] == "medium" and sent["zone"] == "lobby", log
        assert PASSWORD not in log
        deadline = time.monotonic() + 10  # recorded just after the broker's PUBACK
        while True:
            with world.svc.session() as session:
                [row] = session.scalars(select(MqttDelivery)).all()
            if row.state == "delivered" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert row.state == "delivered" and row.alert_id == sent["id"]

        world.stop_coordinator_worker(signal.SIGKILL)
        device.wait_until(lambda got: got[-1][:2] == ("city/availability", "offline"))
        assert device.got[-1][:2] == ("city/availability", "offline")  # its last will
    finally:
        close()
        store.close()
        world.close()
