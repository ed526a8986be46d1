"""Each action once when its task runs twice at once (redelivered by the broker, or queued again
by the sweep while the first attempt is in flight), on real PostgreSQL: one attempt claims the
delivery, the others find it held and send nothing; a real HTTP receiver gets one POST and a
real mosquitto subscriber one message; and two real `coordinator worker` processes on Redis
handed one delivery's task several times. The only fault injected is a slow send (or a slow
receiver), which holds every attempt in flight at once."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from contract.tasks import DELIVER_TASK, WEBHOOKS_QUEUE
from coordinator.config import MqttSettings
from coordinator.db import Delivery, MqttDelivery
from coordinator.delivery_claims import DeliveryBusy
from coordinator.mqtt import Message, Publisher
from coordinator.mqtt import deliver as publish
from coordinator.webhooks import MAX_ATTEMPTS, deliver, give_up, post_direct
from tests.support.deliveries import backoff_over
from tests.support.incident_events import event, send
from tests.support.mosquitto import Broker, Subscriber
from tests.support.world import World, stop

ATTEMPTS = 6
REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")
SLOW = 0.5  # seconds one send takes: long enough for every other attempt to try meanwhile


@pytest.fixture
def city(tmp_path: Path, postgres_url: str, broker: Broker) -> Iterator[World]:
    world = World(tmp_path, postgres_url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                  f"db+sqlite:///{tmp_path / 'results.sqlite'}", options={
                      "mqtt": broker.settings(client_id="coordinator-claims"),
                      "webhook_allowed_networks": ["127.0.0.1/32"]})
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def at_once(attempt: Callable[[], None]) -> list[str]:
    """Run ``attempt`` in ATTEMPTS threads released together; how each ended."""
    start, ended = threading.Barrier(ATTEMPTS), []

    def run() -> None:
        start.wait()
        try:
            attempt()
            ended.append("done")
        except DeliveryBusy:
            ended.append("busy")

    threads = [threading.Thread(target=run) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(ended)


def test_a_webhook_sent_by_many_tasks_at_once_is_posted_once(
        city: World, receiver: Any) -> None:
    url, handler = receiver
    added = city.client.post("/webhooks", headers=city.as_("admin"),
                             json={"url": url, "types": []})
    assert added.status_code == 201, added.text
    intake = send(city, [event(city.clock(), zone="north")])
    [delivery_id] = intake.deliveries

    def slow_post(address: httpx.URL, **kwargs: Any) -> httpx.Response:
        time.sleep(SLOW)
        return post_direct(address, **kwargs)

    ended = at_once(lambda: deliver(city.svc, delivery_id, post=slow_post))
    assert ended == ["busy"] * (ATTEMPTS - 1) + ["done"]
    assert len(handler.got) == 1
    headers = handler.got[0][0]
    assert headers["idempotency-key"] == headers["webhook-id"] == f"alert-{delivery_id}"
    deliver(city.svc, delivery_id, post=slow_post)  # a late task: done already, nothing more
    assert len(handler.got) == 1
    with city.svc.session() as session:
        row = session.get_one(Delivery, delivery_id)
        assert (row.state, row.attempts, row.leased_until) == ("delivered", 1, None)


def test_a_failed_attempt_gives_its_lease_back_and_the_retry_has_the_same_id(
        city: World, receiver: Any) -> None:
    url, handler = receiver
    city.client.post("/webhooks", headers=city.as_("admin"), json={"url": url, "types": []})
    [delivery_id] = send(city, [event(city.clock(), zone="south")]).deliveries
    handler.status = 503
    with pytest.raises(Exception, match="HTTP 503"):
        deliver(city.svc, delivery_id)
    handler.status = 204
    backoff_over(city.svc, delivery_id)  # its retry's countdown has run
    deliver(city.svc, delivery_id)  # not busy: the failed attempt's lease was given back
    first, second = (headers for headers, _ in handler.got)
    assert first["webhook-id"] == second["webhook-id"]
    assert first["idempotency-key"] == second["idempotency-key"]
    with city.svc.session() as session:
        assert session.get_one(Delivery, delivery_id).attempts == 2


def test_early_tasks_for_a_failed_webhook_make_no_attempt_and_do_not_give_it_up(
        city: World, receiver: Any) -> None:
    """Red team 3: tasks queued by anyone on the broker with a delivery's id (one claiming to
    be the last retry) used up its attempts in a second; now each is a no-op until the
    failed attempt's backoff has run, and the due retry still delivers."""
    url, handler = receiver
    city.client.post("/webhooks", headers=city.as_("admin"), json={"url": url, "types": []})
    [delivery_id] = send(city, [event(city.clock(), zone="south")]).deliveries
    handler.status = 503
    with pytest.raises(Exception, match="HTTP 503"):
        deliver(city.svc, delivery_id)
    for _ in range(MAX_ATTEMPTS + 1):
        deliver(city.svc, delivery_id)  # early: nothing sent, nothing counted
    assert not give_up(city.svc, delivery_id)
    with city.svc.session() as session:
        row = session.get_one(Delivery, delivery_id)
        assert (row.state, row.attempts) == ("pending", 1)
    handler.status = 204
    backoff_over(city.svc, delivery_id)
    deliver(city.svc, delivery_id)
    assert len(handler.got) == 2
    with city.svc.session() as session:
        assert session.get_one(Delivery, delivery_id).state == "delivered"


class SlowPublisher(Publisher):
    """A worker process's connection whose publish takes a while."""

    def send(self, key: int, found: Sequence[Message]) -> None:
        time.sleep(SLOW)
        super().send(key, found)


def test_an_mqtt_action_published_by_many_workers_at_once_reaches_the_broker_once(
        city: World, broker: Broker) -> None:
    device = Subscriber(broker, "city/sites/+/cameras/+/events/#")
    # one connection per worker process, as `coordinator worker` opens
    publishers = [SlowPublisher(MqttSettings(**broker.settings(client_id=f"worker-{n}")))
                  for n in range(ATTEMPTS)]
    try:
        device.ready()
        for publisher in publishers:
            assert publisher.connected.wait(15)
        [delivery_id] = send(city, [event(city.clock(), type_="loitering")]).mqtt
        turn = iter(publishers)
        lock = threading.Lock()

        def attempt() -> None:
            with lock:
                publisher = next(turn)
            publish(city.svc, publisher, delivery_id)

        ended = at_once(attempt)
        assert ended == ["busy"] * (ATTEMPTS - 1) + ["done"]
        device.wait_for(1)
        time.sleep(1.0)  # a second message, had one been sent, arrives by now
        assert len(device.got) == 1
        with city.svc.session() as session:
            row = session.scalars(select(MqttDelivery).where(
                MqttDelivery.id == delivery_id)).one()
            assert (row.state, row.attempts) == ("delivered", 1)
    finally:
        device.close()
        for publisher in publishers:
            publisher.close()


def test_two_worker_processes_handed_one_delivery_at_once_post_it_once(
        tmp_path: Path, postgres_url: str, receiver: Any) -> None:
    """The real thing: two `coordinator worker` processes on Redis, the delivery's task in the
    queue several times (the broker's redelivery, the sweep's requeue), a slow receiver."""
    url, handler = receiver
    handler.seconds = 2.0
    for db in (8, 9):
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()
    world = World(tmp_path, postgres_url, f"{REDIS}/8", f"{REDIS}/9",
                  options={"webhook_allowed_networks": ["127.0.0.1/32"]})
    first: Any = None
    try:
        world.add_node("alpha", "site-a")
        added = world.client.post("/webhooks", headers=world.as_("admin"),
                                  json={"url": url, "types": []})
        assert added.status_code == 201, added.text
        world.start_coordinator_worker('webhook_allowed_networks = ["127.0.0.1/32"]\n')
        first = world.coordinator_worker
        world.start_coordinator_worker('webhook_allowed_networks = ["127.0.0.1/32"]\n')
        [delivery_id] = send(world, [event(world.clock(), zone="east")]).deliveries
        for _ in range(4):
            world.svc.dispatcher.enqueue(DELIVER_TASK, [delivery_id], WEBHOOKS_QUEUE)

        def state() -> str:
            with world.svc.session() as session:
                return session.get_one(Delivery, delivery_id).state

        deadline = time.monotonic() + 120
        while state() != "delivered":
            assert time.monotonic() < deadline, (tmp_path / "coordinator-worker.log").read_text(
                errors="replace")
            time.sleep(0.2)
        time.sleep(3 * handler.seconds)  # the other tasks, busy, are retried meanwhile
        assert len(handler.got) == 1
    finally:
        stop(first)
        world.close()
