"""What the control room says of the worker's own connection to the broker, with no action
waiting (the deliveries alone would say nothing): a real `safecity coordinator worker` process
and a real mosquitto (TLS, passwords). A wrong password in its password file is shown as
refused credentials, and clears once the file is corrected; a stopped broker is shown as
unreachable, with the SOS buttons and sensors not heard, and clears when it returns; a password
file gone at a reconnect is shown as unreadable; a worker
killed leaves a report that goes stale and is not taken for a connection. The API process
shares only the database with the worker; no password reaches the status."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from coordinator.db import MqttConnection
from tests.support.mosquitto import PASSWORD, Broker
from tests.support.world import World

EVERY = 1  # mqtt.report_seconds: a report older than 3 s is stale
IOT = [{"id": "sos-1", "kind": "sos_button", "latitude": 52.5201, "longitude": 13.4049,
        "site": "site-a"}]
WRONG = "not-the-password-4711"


@pytest.fixture
def world(broker: Broker, tmp_path: Path, postgres_url: str) -> Iterator[World]:
    city = World(tmp_path, postgres_url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                 f"db+sqlite:///{tmp_path / 'results.sqlite'}",
                 options={"mqtt": broker.settings(client_id="coordinator-conn-api",
                                                  report_seconds=EVERY)})
    city.add_node("alpha", "site-a")
    yield city
    city.close()


def start_worker(world: World, broker: Broker, password_file: Path) -> None:
    mqtt = broker.settings(client_id="coordinator-conn-worker", report_seconds=EVERY,
                           password_file=str(password_file))
    table = "".join(f"{name} = {json.dumps(mqtt[name])}\n"
                    for name in ("host", "port", "ca_file", "username", "client_id",
                                 "topic_prefix", "report_seconds", "password_file"))
    devices = "".join("[[iot.devices]]\n" + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in d.items()) for d in IOT)
    world.start_coordinator_worker("[mqtt]\n" + table + "[iot]\n" + devices)


def status(world: World) -> dict[str, Any]:
    answer = world.client.get("/delivery-status", headers=world.as_("operator"))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    assert WRONG not in str(found) and PASSWORD not in str(found)
    return found


def until(world: World, done: Callable[[dict[str, Any]], bool], timeout: float = 60) -> \
        dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not done(found := status(world)):
        log = (world.root / "coordinator-worker.log").read_text(errors="replace")
        assert time.monotonic() < deadline, (found, log)
        time.sleep(0.3)
    return found


def kinds(found: dict[str, Any]) -> list[str]:
    return [trouble["kind"] for trouble in found["problems"]]


def reported(world: World) -> list[str]:
    with world.svc.session() as session:
        return [row.state for row in session.scalars(select(MqttConnection))]


def test_the_workers_connection_is_shown_with_no_action_waiting(
        world: World, broker: Broker, tmp_path: Path) -> None:
    where = f"localhost:{broker.port}"
    secret = tmp_path / "mqtt-password"
    secret.write_text(WRONG + "\n")
    secret.chmod(0o600)
    start_worker(world, broker, secret)
    try:
        # refused: no action waits, and the status says so regardless
        found = until(world, lambda f: kinds(f) == ["credentials"])
        [trouble] = found["problems"]
        assert trouble["waiting"] == 0 and trouble["devices_heard"] is False
        assert trouble["message"].startswith(
            f"MQTT broker at {where} refused our credentials since ")
        assert "check mqtt.username and the password" in trouble["message"]
        assert trouble["message"].endswith("SOS buttons and sensors are not heard.")
        room = world.client.get("/control-room", headers=world.as_("operator"))
        assert "refused our credentials" in room.text and WRONG not in room.text

        # corrected: the next attempt reads the file again, connects, and the status clears
        secret.write_text(PASSWORD + "\n")
        found = until(world, lambda f: f["ok"] is True)
        assert "being delivered" in found["message"] and reported(world) == ["connected"]

        # the broker stopped, no action waiting: unreachable, the devices not heard
        broker.stop()
        try:
            found = until(world, lambda f: kinds(f) == ["unreachable"])
            [trouble] = found["problems"]
            assert trouble["message"].startswith(f"MQTT broker at {where} unreachable since ")
            assert trouble["message"].endswith(": SOS buttons and sensors are not heard.")
            assert found["message"] == trouble["message"]
        finally:
            broker.start()
        # back: it clears
        until(world, lambda f: f["ok"] is True)

        # the password file gone when the connection is lost: read again at each attempt,
        # it cannot be, and that is said (not its path, nor why)
        secret.rename(tmp_path / "moved-away")
        broker.stop()
        try:
            found = until(world, lambda f: kinds(f) == ["password_file"])
            [trouble] = found["problems"]
            assert trouble["message"].startswith(
                f"The password file for the MQTT broker at {where} cannot be read since ")
            assert "check mqtt.password_file and its permissions" in trouble["message"]
            assert str(tmp_path) not in trouble["message"]
        finally:
            (tmp_path / "moved-away").rename(secret)
            broker.start()
        until(world, lambda f: f["ok"] is True)

        # killed (no clean stop): its "connected" goes stale and is not believed
        world.stop_coordinator_worker(signal.SIGKILL)
        assert reported(world) == ["connected"]
        found = until(world, lambda f: kinds(f) == ["no_worker"], timeout=30)
        [trouble] = found["problems"]
        assert trouble["message"].startswith(
            f"No coordinator worker has reported its connection to the MQTT broker at {where} "
            f"for over {3 * EVERY} s (last at ")
        assert "SOS buttons and sensors may not be heard" in trouble["message"]
    finally:
        world.stop_coordinator_worker()


def test_a_worker_stopped_cleanly_takes_its_report_away(
        world: World, broker: Broker, tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    start_worker(world, broker, secret)
    deadline = time.monotonic() + 60
    while reported(world) != ["connected"]:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert status(world)["ok"] is True
    world.stop_coordinator_worker()
    assert reported(world) == []
    assert status(world)["ok"] is True
