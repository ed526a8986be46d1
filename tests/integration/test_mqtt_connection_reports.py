"""How ``/delivery-status`` weighs the workers' reports of their MQTT connections
(``mqtt_connections``) against the delivery rows, on SQLite: an attempt that failed before the
worker's connection opened is not shown once it is connected; a connection down is said once,
with the actions waiting folded in; one worker down of two is said as such; a worker still
connecting is said only when it takes long; a stale report is not believed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coordinator.db import MqttConnection, MqttDelivery
from tests.support.incident_events import event, send
from tests.support.world import World, embedded_world

EVERY = 10.0  # mqtt.report_seconds: stale after 30 s
MQTT = {"host": "broker.city.example", "port": 8883, "username": "coordinator",
        "password": "not-shown-4711", "report_seconds": EVERY}
WHERE = "broker.city.example:8883"


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path / "city", options={"mqtt": MQTT})
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def now() -> datetime:
    return datetime.now(UTC)


def report(city: World, worker: str, state: str, since: datetime,
           reported_at: datetime | None = None, listening: bool = True) -> None:
    with city.svc.session() as session:
        session.merge(MqttConnection(worker=worker, broker=WHERE, listening=listening,
                                     state=state, since=since,
                                     reported_at=reported_at or now()))


def failed_attempt(city: World, error: str, at: datetime) -> None:
    intake = send(city, [event(now().replace(microsecond=0), "weapon", zone="bank")])
    with city.svc.session() as session:
        delivery = session.get_one(MqttDelivery, intake.mqtt[0])
        delivery.last_error, delivery.touched_at, delivery.attempts = error, at, 1


def status(city: World) -> dict[str, Any]:
    answer = city.client.get("/delivery-status", headers=city.as_("operator"))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    assert "not-shown-4711" not in str(found)
    return found


def test_an_attempt_before_the_first_connection_is_not_shown_once_connected(
        city: World) -> None:
    failed_attempt(city, f"not connected to the broker at {WHERE} yet",
                   now() - timedelta(seconds=5))
    assert [t["kind"] for t in status(city)["problems"]] == ["unreachable"]  # no report yet
    report(city, "host:1", "connected", since=now())
    found = status(city)
    assert found["ok"] is True, found


def test_an_attempt_failed_since_the_connection_opened_is_still_shown(city: World) -> None:
    report(city, "host:1", "connected", since=now() - timedelta(minutes=5))
    failed_attempt(city, "the connection to the broker was lost", now())
    assert [t["kind"] for t in status(city)["problems"]] == ["unreachable"]


def test_a_connection_down_is_said_once_with_the_actions_waiting(city: World) -> None:
    failed_attempt(city, f"cannot connect to the broker at {WHERE} (refused, unreachable, or "
                   "its TLS certificate not trusted)", now())
    report(city, "host:1", "unreachable", since=now() - timedelta(minutes=2))
    found = status(city)
    [trouble] = found["problems"]
    assert trouble["kind"] == "unreachable" and trouble["waiting"] == 1
    assert trouble["devices_heard"] is False
    assert trouble["message"].startswith(f"MQTT broker at {WHERE} unreachable since ")
    assert trouble["message"].endswith(
        ": SOS buttons and sensors are not heard; 1 action waiting since "
        f"{trouble['message'][-6:-1]}.")


def test_one_worker_down_of_two_still_hears_the_devices(city: World) -> None:
    report(city, "host:1", "connected", since=now() - timedelta(minutes=5))
    report(city, "host:2", "credentials", since=now() - timedelta(minutes=1))
    [trouble] = status(city)["problems"]
    assert trouble["kind"] == "credentials" and trouble["devices_heard"] is True
    assert "refused our credentials since " in trouble["message"]
    assert "(for 1 of 2 workers)" in trouble["message"]
    assert "not heard" not in trouble["message"]


def test_a_publishing_only_connection_says_nothing_of_devices(city: World) -> None:
    report(city, "host:1", "refused", since=now(), listening=False)
    [trouble] = status(city)["problems"]
    assert trouble["message"].startswith(f"MQTT broker at {WHERE} refuses the connection since ")
    assert trouble["devices_heard"] is None and "SOS" not in trouble["message"]


def test_a_worker_connecting_is_said_only_when_it_takes_long(city: World) -> None:
    report(city, "host:1", "connecting", since=now())
    assert status(city)["ok"] is True
    report(city, "host:1", "connecting", since=now() - timedelta(minutes=1))
    [trouble] = status(city)["problems"]
    assert trouble["kind"] == "connecting"
    assert trouble["message"].startswith(f"MQTT broker at {WHERE}: not connected yet, trying "
                                         "since ")


def test_a_stale_report_is_not_taken_for_a_connection(city: World) -> None:
    report(city, "host:1", "connected", since=now() - timedelta(hours=1),
           reported_at=now() - timedelta(seconds=3 * EVERY + 5))
    [trouble] = status(city)["problems"]
    assert trouble["kind"] == "no_worker" and trouble["devices_heard"] is None
    assert trouble["message"].startswith(
        f"No coordinator worker has reported its connection to the MQTT broker at {WHERE} for "
        "over 30 s (last at ")
    # a live worker beside it: the stale one (killed) is ignored
    report(city, "host:2", "connected", since=now())
    assert status(city)["ok"] is True
