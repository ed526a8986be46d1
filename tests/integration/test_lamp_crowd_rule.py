"""The crowd-and-dark rule against a real mosquitto broker (TLS, passwords): a lamp controller
says its state, retained; a crowd at a camera linked to it while its lamps are off sends it the
"on" command through the MQTT action path, received by the controller's subscription; with its
lamps on, nothing is sent; a state message from an unknown device, too large or dated ahead is
refused and changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import pytest

from coordinator.config import MqttSettings
from coordinator.db import MqttDelivery
from coordinator.errors import DeliveryFailed
from coordinator.iot_devices import IotSettings
from coordinator.mqtt import Publisher, deliver
from tests.support.incident_events import event, send
from tests.support.mosquitto import Broker, Subscriber, device_client
from tests.support.world import World, embedded_world

NOW = datetime.now(UTC).replace(microsecond=0)
IOT = {"devices": [{"id": "lamp-7", "kind": "lamp_controller", "site": "site-a",
                    "latitude": 52.52, "longitude": 13.405, "cameras": ["site-a/gate"],
                    "crowd_count": 10}]}
STATE, COMMAND = "city/devices/lamp-7/state", "city/devices/lamp-7/command"


@pytest.fixture
def city(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = embedded_world(tmp_path_factory.mktemp("city"),
                           options={"mqtt": broker.settings(), "iot": IOT})
    world.add_node("alpha", "site-a")
    yield world
    world.close()


@pytest.fixture
def lamp(broker: Broker) -> Iterator[paho.Client]:
    """The lamp controller's connection, as the device's user."""
    client = device_client(broker, "lamp")
    yield client
    client.publish(STATE, b"", qos=1, retain=True).wait_for_publish(5)  # clear the retained
    client.disconnect()
    client.loop_stop()


def say(lamp: paho.Client, payload: bytes, topic: str = STATE) -> None:
    lamp.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)


def state(on: bool, ahead: timedelta = timedelta(0)) -> bytes:
    return json.dumps({"time": (datetime.now(UTC) + ahead).isoformat(), "on": on}).encode()


def until(done: object, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def published(city: World, publisher: Publisher, ids: list[int]) -> None:
    deadline = time.monotonic() + 15
    for delivery in ids:
        while True:
            try:
                deliver(city.svc, publisher, delivery)
                break
            except DeliveryFailed:
                assert time.monotonic() < deadline, f"not delivered: {delivery}"
                time.sleep(0.1)


def test_a_crowd_where_the_lamps_are_off_turns_them_on(
        city: World, broker: Broker, lamp: paho.Client) -> None:
    say(lamp, state(False))
    commands = Subscriber(broker, COMMAND)
    commands.ready()
    publisher = Publisher(MqttSettings(**broker.settings(client_id=f"lamps-{time.monotonic_ns()}")),
                          IotSettings(**IOT))
    try:
        until(lambda: publisher.lamps.get("lamp-7") is False, "the retained state not read")
        crowd = send(city, [replace(event(NOW, "occupancy", zone="square"), count=37)])
        few = send(city, [replace(event(NOW, "occupancy", zone="square"), count=3)])
        with city.svc.session() as session:
            targets = [session.get_one(MqttDelivery, i).target for i in crowd.mqtt + few.mqtt]
        assert sorted(targets) == ["lamp:lamp-7", "mqtt", "mqtt"]  # no lamp for three people
        published(city, publisher, crowd.mqtt)
        [(topic, command, _)] = commands.wait_for(1)
        assert topic == COMMAND and command["on"] is True and command["count"] == 37
        assert command["alert_id"] == crowd.alerts[0] and command["camera"] == "site-a/gate"

        # refused, and nothing changes: an unknown device, an oversized or future message,
        # a lamp state that is not the schema, on the wrong channel
        refused = publisher.refused
        say(lamp, state(True), "city/devices/lamp-9/state")
        say(lamp, state(True) + b" " * 2000)
        say(lamp, state(True, ahead=timedelta(hours=1)))
        say(lamp, b'{"time": "2026-12-06T01:00:00+00:00", "on": "yes please"}')
        say(lamp, b"not json")
        until(lambda: publisher.refused == refused + 5, "the bad messages not all refused")
        assert publisher.lamps["lamp-7"] is False

        # the lamps are on now: the next crowd sends nothing
        say(lamp, state(True))
        until(lambda: publisher.lamps["lamp-7"] is True, "the new state not read")
        again = send(city, [replace(event(NOW, "occupancy", zone="square"), count=50)])
        published(city, publisher, again.mqtt)
        with city.svc.session() as session:
            rows = {session.get_one(MqttDelivery, i).target: session.get_one(MqttDelivery, i)
                    for i in again.mqtt}
        assert rows["lamp:lamp-7"].state == "not_needed" and rows["mqtt"].state == "delivered"
        time.sleep(0.3)
        assert len(commands.got) == 1
    finally:
        commands.close()
        publisher.close()
