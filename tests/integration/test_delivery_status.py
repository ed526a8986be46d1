"""What the control room's operators see of a broker in trouble (issue 23's bad input): a real
mosquitto (TLS, passwords) refusing a wrong password, then stopped; ``/delivery-status`` names
the broker and what to check, with the actions waiting, and never the password; the incident
list and the control room work meanwhile; once a delivery succeeds the status clears. The API
reads what the `coordinator worker` process wrote: a real worker refused by the broker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contract.tasks import PUBLISH_MQTT_TASK, WEBHOOKS_QUEUE
from coordinator.config import MqttSettings
from coordinator.errors import DeliveryFailed
from coordinator.mqtt import Publisher, deliver
from tests.support.incident_events import event, send
from tests.support.mosquitto import PASSWORD, Broker
from tests.support.world import World, embedded_world

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, broker: Broker, tmp_path: Path) -> Iterator[World]:
    """The status is read with the queries each database runs: on SQLite and PostgreSQL."""
    options = {"mqtt": broker.settings()}
    if request.param == "sqlite":
        world = embedded_world(tmp_path / "city", options=options)
    else:
        world = World(tmp_path, request.getfixturevalue("postgres_url"),
                      f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                      f"db+sqlite:///{tmp_path / 'results.sqlite'}", options=options)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


@pytest.fixture
def publishers() -> Iterator[list[Publisher]]:
    opened: list[Publisher] = []
    yield opened
    for publisher in opened:
        publisher.close()


def publisher_for(broker: Broker, opened: list[Publisher], **changes: object) -> Publisher:
    publisher = Publisher(MqttSettings(**broker.settings(
        client_id=f"coordinator-status-{len(opened)}-{time.monotonic_ns()}", **changes)))
    opened.append(publisher)
    return publisher


def delivery_status(city: World) -> dict[str, Any]:
    answer = city.client.get("/delivery-status", headers=city.as_("operator"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def kinds(found: dict[str, Any]) -> list[str]:
    return [trouble["kind"] for trouble in found["problems"]]


def until(done: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def the_room_works(city: World, incident_ids: list[int], banner: str) -> None:
    listed = city.client.get("/incidents", headers=city.as_("operator"))
    assert listed.status_code == 200, listed.text
    assert set(incident_ids) <= {i["id"] for i in listed.json()["incidents"]}
    room = city.client.get("/control-room", headers=city.as_("operator"))
    assert room.status_code == 200
    assert 'id="delivery-status" role="status" aria-live="polite"' in room.text
    assert banner in room.text


def test_a_wrong_password_is_shown_to_the_operator_until_a_delivery_succeeds(
        city: World, broker: Broker, publishers: list[Publisher], tmp_path: Path) -> None:
    assert delivery_status(city)["ok"] is True
    wrong = "not-the-password-4711"
    secret = tmp_path / "mqtt-password"
    secret.write_text(wrong + "\n")
    refused = publisher_for(broker, publishers, password=None, password_file=str(secret))
    until(lambda: refused.problem is not None)
    intake = send(city, [event(NOW, "weapon", zone="bank")])
    with pytest.raises(DeliveryFailed, match="credentials"):
        deliver(city.svc, refused, intake.mqtt[0])

    found = delivery_status(city)
    assert found["ok"] is False
    [trouble] = found["problems"]
    assert trouble["channel"] == "mqtt" and trouble["kind"] == "credentials"
    assert trouble["target"] == f"localhost:{broker.port}" and trouble["waiting"] == 1
    assert trouble["message"].startswith(
        f"MQTT broker at localhost:{broker.port} refused our credentials: check mqtt.username "
        "and the password")
    assert "1 action waiting since " in trouble["message"]
    assert found["message"] == trouble["message"]
    room = city.client.get("/control-room", headers=city.as_("operator"))
    for text in (str(found), room.text):
        assert wrong not in text and PASSWORD not in text
    the_room_works(city, intake.incidents, "refused our credentials")

    secret.write_text(PASSWORD + "\n")  # corrected: the next attempt goes through
    deadline = time.monotonic() + 40
    while True:
        try:
            deliver(city.svc, refused, intake.mqtt[0])
            break
        except DeliveryFailed:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    found = delivery_status(city)
    assert found["ok"] is True and found["problems"] == []
    assert "being delivered" in found["message"]


def test_a_stopped_broker_is_shown_and_clears_once_a_delivery_succeeds(
        city: World, broker: Broker, publishers: list[Publisher]) -> None:
    publisher = publisher_for(broker, publishers)
    assert publisher.connected.wait(10)
    broker.stop()
    try:
        until(lambda: not publisher.connected.is_set())
        intake = send(city, [event(NOW, "restricted_area", zone=f"gate-{n}") for n in range(3)])
        for delivery in intake.mqtt:
            with pytest.raises(DeliveryFailed, match="broker"):
                deliver(city.svc, publisher, delivery)

        found = delivery_status(city)
        [trouble] = found["problems"]
        assert trouble["kind"] == "unreachable" and trouble["waiting"] == 3
        assert trouble["message"].startswith(
            f"MQTT broker at localhost:{broker.port} unreachable: 3 actions waiting since ")
        the_room_works(city, intake.incidents, f"MQTT broker at localhost:{broker.port} "
                                               "unreachable")
    finally:
        broker.start()

    # the broker is back: one delivery succeeds and the status clears, while the other two
    # still wait for the worker's next retries
    deadline = time.monotonic() + 20
    while True:
        try:
            deliver(city.svc, publisher, intake.mqtt[0])
            break
        except DeliveryFailed:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    found = delivery_status(city)
    assert found["ok"] is True, found
    the_room_works(city, intake.incidents, "being delivered")


def test_the_worker_process_refused_by_the_broker_is_shown_by_the_api(
        broker: Broker, tmp_path: Path, postgres_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`safecity coordinator worker` (a process of its own, its password from the environment,
    wrong) tries the alert's delivery; the API process, sharing only the database, says so."""
    world = World(tmp_path, postgres_url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                  f"db+sqlite:///{tmp_path / 'results.sqlite'}",
                  options={"mqtt": broker.settings(client_id="coordinator-status-api")})
    wrong = "not-the-password-4711"
    try:
        world.add_node("alpha", "site-a")
        monkeypatch.setenv("SAFECITY_COORDINATOR_MQTT__PASSWORD", wrong)
        mqtt = broker.settings(client_id="coordinator-status-worker")
        world.start_coordinator_worker("[mqtt]\n" + "".join(
            f"{name} = {json.dumps(mqtt[name])}\n"
            for name in ("host", "port", "ca_file", "username", "client_id", "topic_prefix")))
        intake = send(world, [event(NOW, "weapon", zone="bank")])
        world.svc.dispatcher.enqueue(PUBLISH_MQTT_TASK, [intake.mqtt[0]], WEBHOOKS_QUEUE)
        deadline = time.monotonic() + 60
        # (an attempt before the worker's first connection answered says "not connected yet":
        # the next one, after the broker's refusal, says why)
        while kinds(found := delivery_status(world)) != ["credentials"]:
            log = (tmp_path / "coordinator-worker.log").read_text(errors="replace")
            assert time.monotonic() < deadline, log
            time.sleep(0.3)
        [trouble] = found["problems"]
        assert trouble["message"].startswith(
            f"MQTT broker at localhost:{broker.port} refused our credentials")
        assert wrong not in str(found) and PASSWORD not in str(found)
        the_room_works(world, intake.incidents, "refused our credentials")
        world.stop_coordinator_worker()

        # the right password: the alert that waited goes out, and the status clears
        fixed = Publisher(MqttSettings(**broker.settings(client_id="coordinator-status-fixed")))
        try:
            assert fixed.connected.wait(10)
            deliver(world.svc, fixed, intake.mqtt[0])
        finally:
            fixed.close()
        assert delivery_status(world)["ok"] is True
    finally:
        world.close()
