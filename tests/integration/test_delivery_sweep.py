"""Webhook and MQTT deliveries stranded by a worker that stopped between storing a batch and
queueing its tasks: the housekeeping sweep queues them again once they have been untouched for
``delivery_requeue_seconds``, and the real `coordinator worker` process delivers each once, to
a real HTTP receiver and a device on a real mosquitto broker (Redis, PostgreSQL); a task queued
twice for one delivery (its original turning up late) delivers nothing more."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select

from contract.tasks import DELIVER_TASK, PUBLISH_MQTT_TASK, WEBHOOKS_QUEUE
from coordinator.db import Delivery, MqttDelivery
from coordinator.delivery_sweep import requeue_stranded
from tests.support.incident_events import event, send
from tests.support.mosquitto import PASSWORD, Broker, Subscriber
from tests.support.world import World

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")
AGE = timedelta(seconds=900)  # the default delivery_requeue_seconds


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path / "mosquitto")
    running.start()
    yield running
    running.stop()


def worker_config(broker: Broker) -> str:
    mqtt = broker.settings(client_id="coordinator-sweep-worker")
    return ('webhook_allowed_networks = ["127.0.0.1/32"]\n[mqtt]\n' + "".join(
        f"{name} = {json.dumps(mqtt[name])}\n"
        for name in ("host", "port", "ca_file", "username", "client_id", "topic_prefix")))


def states(world: World) -> list[tuple[str, int, str]]:
    with world.svc.session() as session:
        return ([("webhook", d.alert_id, d.state) for d in session.scalars(
                    select(Delivery).order_by(Delivery.id))]
                + [("mqtt", d.alert_id, d.state) for d in session.scalars(
                    select(MqttDelivery).order_by(MqttDelivery.id))])


def wait_for(check: Any, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_stranded_deliveries_are_queued_again_and_delivered_once(
        tmp_path: Path, postgres_url: str, broker: Broker, receiver: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = receiver
    for db in (14, 15):
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()
    world = World(tmp_path, postgres_url, f"{REDIS}/14", f"{REDIS}/15", options={
        "mqtt": broker.settings(client_id="coordinator-sweep-test"),
        "webhook_allowed_networks": ["127.0.0.1/32"]})
    device = Subscriber(broker, "city/sites/+/cameras/+/events/#")
    try:
        device.ready()
        world.add_node("alpha", "site-a")
        added = world.client.post("/webhooks", headers=world.as_("admin"),
                                  json={"url": url, "types": []})
        assert added.status_code == 201, added.text
        now = datetime.now(UTC)
        # a worker that stopped after storing the batch: its deliveries planned, none queued
        stranded = send(world, [event(now - timedelta(seconds=30), zone="north"),
                                event(now - timedelta(seconds=20), type_="loitering")])
        assert len(stranded.deliveries) == len(stranded.mqtt) == 2
        monkeypatch.setenv("SAFECITY_COORDINATOR_MQTT__PASSWORD", PASSWORD)
        world.start_coordinator_worker(worker_config(broker))
        log = tmp_path / "coordinator-worker.log"

        # not yet untouched for the period: left alone (their tasks may still be queued)
        assert requeue_stranded(world.svc) == {"webhooks": 0, "mqtt": 0}
        world.set_time(now + AGE + timedelta(seconds=1))
        assert requeue_stranded(world.svc) == {"webhooks": 2, "mqtt": 2}
        assert requeue_stranded(world.svc) == {"webhooks": 0, "mqtt": 0}  # touched: not twice
        assert wait_for(lambda: all(s == "delivered" for *_, s in states(world))), \
            log.read_text(errors="replace")
        assert sorted(json.loads(body)["alert"]["id"] for _, body in handler.got) == sorted(
            stranded.alerts)
        got = device.wait_for(2)
        assert sorted(p["id"] for _, p, _ in got) == sorted(stranded.alerts)

        # the originals turning up late: tasks for deliveries already done deliver nothing
        for delivery_id in stranded.deliveries:
            world.svc.dispatcher.enqueue(DELIVER_TASK, [delivery_id], WEBHOOKS_QUEUE)
        for delivery_id in stranded.mqtt:
            world.svc.dispatcher.enqueue(PUBLISH_MQTT_TASK, [delivery_id], WEBHOOKS_QUEUE)
        # a later stranded alert, queued after them, shows that the worker has taken them
        world.set_time(None)
        later = send(world, [event(datetime.now(UTC), type_="running", zone="south")])
        world.set_time(datetime.now(UTC) + 2 * AGE)
        assert requeue_stranded(world.svc) == {"webhooks": 1, "mqtt": 1}
        assert wait_for(lambda: all(s == "delivered" for *_, s in states(world))), \
            log.read_text(errors="replace")
        device.wait_for(3)
        assert wait_for(lambda: len(handler.got) >= 3)
        assert sorted(json.loads(body)["alert"]["id"] for _, body in handler.got) == sorted(
            stranded.alerts + later.alerts)
        assert sorted(p["id"] for _, p, _ in device.got) == sorted(
            stranded.alerts + later.alerts)
        assert requeue_stranded(world.svc) == {"webhooks": 0, "mqtt": 0}
    finally:
        device.close()
        world.close()
