"""The city's devices over a real mosquitto broker (TLS, a device's own password): an SOS
press becomes a high-severity incident at the button's position, once although the message
comes twice; a sensor's threshold crossing becomes an incident, once per crossing; a message
from an unknown device, too large, of the wrong schema or dated ahead is refused and the
listener carries on; a broker that goes away and returns is listened to again."""

from __future__ import annotations

import json
import os
import queue
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import generate_latest
from sqlalchemy import select

from coordinator.config import MqttSettings
from coordinator.db import Alert, Incident
from coordinator.device_intake import take_device
from coordinator.iot_devices import IotSettings
from coordinator.iot_messages import Refused
from coordinator.metrics import WorkerMetrics
from coordinator.mqtt import Publisher
from coordinator.services import city_map
from tests.support.mosquitto import PASSWORD, Broker, device_client
from tests.support.world import World, embedded_world

WHERE = {"site": "site-a"}
IOT = {"devices": [
    {"id": "sos-1", "kind": "sos_button", "latitude": 52.5201, "longitude": 13.4049, **WHERE},
    {"id": "noise-3", "kind": "noise", "threshold": 85.0, "latitude": 52.5210,
     "longitude": 13.4100, **WHERE}]}
Heard = queue.Queue[tuple[str, bytes]]
REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")
PASSWORDS = {"sos-1": "sos-1-test-password", "noise-3": "noise-3-test-password"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = Broker(tmp_path_factory.mktemp("mosquitto"), devices=PASSWORDS)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def city(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = embedded_world(tmp_path_factory.mktemp("city"),
                           options={"mqtt": broker.settings(), "iot": IOT})
    yield world
    world.close()


@pytest.fixture
def heard(broker: Broker) -> Iterator[tuple[Publisher, Heard]]:
    """The worker's connection, handing what it hears to a queue (the worker's task queue)."""
    got: Heard = queue.Queue()
    publisher = Publisher(MqttSettings(**broker.settings(client_id=f"iot-{time.monotonic_ns()}")),
                          IotSettings(**IOT), on_device=lambda t, p: got.put((t, p)))
    assert publisher.connected.wait(10)
    time.sleep(0.3)  # its subscriptions granted
    yield publisher, got
    publisher.close()


@pytest.fixture
def device(broker: Broker) -> Iterator[paho.Client]:
    client = device_client(broker)
    yield client
    client.disconnect()
    client.loop_stop()


def say(device: paho.Client, topic: str, payload: bytes) -> None:
    device.publish(topic, payload, qos=1).wait_for_publish(5)


def body(ahead: timedelta = timedelta(0), **fields: object) -> bytes:
    return json.dumps({"time": (datetime.now(UTC) + ahead).isoformat(), **fields}).encode()


def drain(got: Heard, wait: float = 1.0) -> list[tuple[str, bytes]]:
    found, deadline = [], time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            found.append(got.get(timeout=0.05))
        except queue.Empty:
            continue
    return found


def test_an_sos_press_is_an_incident_at_the_button(city: World, device: paho.Client,
                                                   heard: tuple[Publisher, Heard]) -> None:
    _, got = heard
    press = body()
    say(device, "city/devices/sos-1/sos", press)
    say(device, "city/devices/sos-1/sos", press)  # the same press twice (QoS 1 allows it)
    messages = drain(got)
    assert [t for t, _ in messages] == ["city/devices/sos-1/sos"] * 2
    first, second = (take_device(city.svc, t, p) for t, p in messages)
    assert len(first.alerts) == 1 and second.alerts == [] and second.duplicates == 1
    with city.svc.session() as session:
        alert = session.get_one(Alert, first.alerts[0])
        incident = session.get_one(Incident, first.incidents[0])
        assert alert.node_id is None and alert.device_id == "sos-1" and alert.type == "sos"
        assert (incident.latitude, incident.longitude) == (52.5201, 13.4049)
        assert incident.severity == "high" and incident.site_id == "site-a"
        assert incident.alert_count == 1
    # the map shows it where the button stands
    assert city_map.cameras(city.svc)["devices"] == [
        {"device": "sos-1", "site": "site-a", "type": "sos", "latitude": 52.5201,
         "longitude": 13.4049, "open": 1}]
    # the incident page says what the device sent: a press, no reading
    detail = city.client.get(f"/incidents/{first.incidents[0]}",
                             headers=city.as_("operator")).json()
    [shown] = detail["alerts"]
    assert shown["device_id"] == "sos-1" and shown["reading"] is None
    page = city.client.get(f"/control-room/incidents/{first.incidents[0]}",
                           headers={**city.as_("operator"), "accept": "text/html"}).text
    row = page.split(f'<tr id="alert-{shown["id"]}">')[1].split("</tr>")[0]
    assert "SOS button pressed" in row
    # a forged task (not through the listener) is checked again
    with pytest.raises(Refused, match="unknown device"):
        take_device(city.svc, "city/devices/sos-9/sos", press)


def test_each_device_has_its_password_and_speaks_for_itself_only(
        broker: Broker, heard: tuple[Publisher, Heard]) -> None:
    """The ACL docs/mqtt.md gives: a button cannot pass for a sensor, a wrong password is
    refused by the broker."""
    _, got = heard
    button = device_client(broker, "sos", "sos-1", PASSWORDS["sos-1"])
    try:
        say(button, "city/devices/noise-3/reading", body(value=120))  # dropped by the broker
        say(button, "city/devices/sos-1/sos", body())
        assert [t for t, _ in drain(got)] == ["city/devices/sos-1/sos"]
    finally:
        button.disconnect()
        button.loop_stop()
    answers: list[ReasonCode] = []
    thief = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"thief-{time.monotonic_ns()}")
    thief.username_pw_set("sos-1", PASSWORDS["noise-3"])
    thief.tls_set(ca_certs=str(broker.ca.certificate), cert_reqs=ssl.CERT_REQUIRED)
    thief.on_connect = lambda _c, _u, _f, code, _p: answers.append(code)
    thief.connect("localhost", broker.port)
    thief.loop_start()
    try:
        deadline = time.monotonic() + 10
        while not answers:
            assert time.monotonic() < deadline, "no answer to the connection"
            time.sleep(0.05)
        assert answers[0].is_failure
    finally:
        thief.disconnect()
        thief.loop_stop()


def test_bad_messages_are_refused_and_the_listener_carries_on(
        city: World, device: paho.Client, heard: tuple[Publisher, Heard]) -> None:
    publisher, got = heard
    for topic, payload in [("city/devices/sos-9/sos", body()),
                           ("city/devices/sos-1/sos", body() + b" " * 2000),
                           ("city/devices/sos-1/sos", body(ahead=timedelta(hours=2))),
                           ("city/devices/sos-1/sos", body(pressed="yes")),
                           ("city/devices/sos-1/sos", b"\x00\xff not json"),
                           ("city/devices/noise-3/reading", body(value="loud"))]:
        say(device, topic, payload)
    deadline = time.monotonic() + 10
    while publisher.refused < 6:
        assert time.monotonic() < deadline, publisher.refused
        time.sleep(0.05)
    say(device, "city/devices/sos-1/sos", body())
    assert [t for t, _ in drain(got)] == ["city/devices/sos-1/sos"]  # still listening
    metrics = WorkerMetrics()
    metrics.watch_mqtt(publisher)
    assert "safecity_iot_refused_total 6.0" in generate_latest(metrics.registry).decode()


def test_a_threshold_crossing_is_an_incident_once_per_crossing(
        city: World, device: paho.Client, heard: tuple[Publisher, Heard]) -> None:
    _, got = heard
    for n, value in enumerate((60, 90, 95, 70, 88)):
        say(device, "city/devices/noise-3/reading",
            body(ahead=timedelta(milliseconds=n), value=value))
    crossings = drain(got)
    assert [json.loads(p)["value"] for _, p in crossings] == [90, 88]
    intakes = [take_device(city.svc, t, p) for t, p in crossings]
    with city.svc.session() as session:
        [incident] = {session.get_one(Incident, i.incidents[0]) for i in intakes}
        assert incident.type == "noise" and incident.severity == "low"
        assert incident.alert_count == 2 and incident.latitude == 52.5210
    # each crossing's reading is kept with the incident: value, unit, threshold, its time
    sent = [json.loads(p) for _, p in crossings]
    detail = city.client.get(f"/incidents/{incident.id}", headers=city.as_("operator")).json()
    assert [a["reading"] for a in detail["alerts"]] == [
        {"value": float(m["value"]), "unit": "dB(A)", "threshold": 85.0,
         "time": datetime.fromisoformat(m["time"]).isoformat()} for m in sent]
    page = city.client.get(f"/control-room/incidents/{incident.id}",
                           headers={**city.as_("operator"), "accept": "text/html"})
    assert page.status_code == 200
    for a in detail["alerts"]:
        row = page.text.split(f'<tr id="alert-{a["id"]}">')[1].split("</tr>")[0]
        assert f'{a["reading"]["value"]:g}&nbsp;dB(A) (threshold 85&nbsp;dB(A))' in row


def test_a_broker_that_goes_away_and_returns_is_listened_to_again(
        broker: Broker, heard: tuple[Publisher, Heard]) -> None:
    publisher, got = heard
    broker.stop()
    deadline = time.monotonic() + 10
    while publisher.connected.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    broker.start()
    assert publisher.connected.wait(40), "the listener did not reconnect"
    time.sleep(0.3)  # its subscriptions granted again
    client = device_client(broker)
    try:
        say(client, "city/devices/sos-1/sos", body())
        assert [t for t, _ in drain(got)] == ["city/devices/sos-1/sos"]
    finally:
        client.disconnect()
        client.loop_stop()


def test_an_sos_press_reaches_the_incidents_through_the_worker_process(
        broker: Broker, tmp_path: Path, postgres_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The production path: `safecity coordinator worker` (a process) hears the press on its
    own connection, queues it on Redis, takes it in: an incident at the button."""
    world = World(tmp_path, postgres_url, f"{REDIS}/12", f"{REDIS}/13")
    monkeypatch.setenv("SAFECITY_COORDINATOR_MQTT__PASSWORD", PASSWORD)
    mqtt = broker.settings(client_id="coordinator-worker-devices")
    table = "".join(f"{name} = {json.dumps(mqtt[name])}\n"
                    for name in ("host", "port", "ca_file", "username", "client_id",
                                 "topic_prefix"))
    devices = "".join("[[iot.devices]]\n" + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in d.items()) for d in IOT["devices"])
    button = device_client(broker, "sos", "sos-1", PASSWORDS["sos-1"])
    try:
        world.start_coordinator_worker("[mqtt]\n" + table + "[iot]\n" + devices)
        log = tmp_path / "coordinator-worker.log"
        deadline = time.monotonic() + 60
        found: list[Incident] = []
        while not found:
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            say(button, "city/devices/sos-1/sos", body())  # until the worker listens
            time.sleep(0.5)
            with world.svc.session() as session:
                found = list(session.scalars(select(Incident)).all())
        [incident] = found
        assert incident.type == "sos" and incident.severity == "high"
        assert (incident.latitude, incident.longitude) == (52.5201, 13.4049)
        assert PASSWORD not in log.read_text(errors="replace")
    finally:
        button.disconnect()
        button.loop_stop()
        world.close()
