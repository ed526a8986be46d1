"""Actions chosen per rule, against a real mosquitto broker (TLS, passwords) and a real HTTP
receiver: an alert runs only the actions of the rules it matches (a sign's rendered message,
retained on its topic; one of two webhooks; the MQTT event of another type), an alert that
matches no rule runs none, and a sign removed from the settings fails its delivery clearly."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from coordinator import webhooks
from coordinator.action_rules import ActionRule, SignageAction
from coordinator.alert_intake import accept
from coordinator.config import MqttSettings
from coordinator.db import Delivery, MqttDelivery
from coordinator.errors import DeliveryFailed
from coordinator.mqtt import Publisher, deliver
from coordinator.service import Coordinator
from tests.support.incident_events import batch, event
from tests.support.mosquitto import Broker, Subscriber
from tests.support.world import World, embedded_world

NOW = datetime.now(UTC).replace(microsecond=0)
SIGN = "city/signage/high-street"


@pytest.fixture
def city(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = embedded_world(tmp_path_factory.mktemp("city"),
                           options={"mqtt": broker.settings(),
                                    "webhook_allowed_networks": ["127.0.0.1/32"]})
    world.add_node("alpha", "site-a")
    yield world
    world.close()


@pytest.fixture
def publisher(broker: Broker) -> Iterator[Publisher]:
    opened = Publisher(MqttSettings(**broker.settings(client_id=f"rules-{time.monotonic_ns()}")))
    yield opened
    opened.close()


def with_actions(city: World, hooks: list[str]) -> Coordinator:
    """The city's coordinator (this test's own) given these rules: a closure sign and the
    first webhook for a restricted area at the gate, the MQTT event for loitering anywhere,
    nothing for others."""
    settings = city.svc.settings.model_copy(update={
        "signage": [SignageAction(name="closure", topic=SIGN,
                                  template="Road closed at {camera}: {type} ({severity})")],
        "actions": [ActionRule(types=["restricted_area"], cameras=["gate"],
                               webhooks=[hooks[0]], signage=["closure"]),
                    ActionRule(types=["loitering"], mqtt=True)]})
    city.svc.settings = settings
    return city.svc


def published(svc: Coordinator, publisher: Publisher, ids: list[int]) -> None:
    deadline = time.monotonic() + 15
    for delivery in ids:
        while True:
            try:
                deliver(svc, publisher, delivery)
                break
            except DeliveryFailed:
                assert time.monotonic() < deadline, f"not delivered: {delivery}"
                time.sleep(0.1)


def test_each_alert_runs_only_the_actions_its_rules_choose(
        city: World, broker: Broker, publisher: Publisher,
        receiver: tuple[str, Any]) -> None:
    url, handler = receiver
    hooks = [city.client.post("/webhooks", headers=city.as_("admin"),
                              json={"url": url, "types": []}).json()["webhook_id"]
             for _ in range(2)]
    svc = with_actions(city, hooks)
    device = Subscriber(broker, "city/#")
    device.ready()
    try:
        intake = accept(svc, batch(city, [event(NOW, "restricted_area"),
                                          event(NOW, "loitering", zone="exit"),
                                          event(NOW, "running", zone=None),
                                          event(NOW, "restricted_area", camera="lobby")]))
        closure, loitering, _, _ = intake.alerts
        with svc.session() as session:
            planned = {(d.target, d.alert_id) for d in
                       session.query(MqttDelivery).filter(MqttDelivery.id.in_(intake.mqtt))}
            posts = [(d.webhook_id, d.alert_id) for d in
                     session.query(Delivery).filter(Delivery.id.in_(intake.deliveries))]
        assert planned == {("signage:closure", closure), ("mqtt", loitering)}
        assert posts == [(hooks[0], closure)]

        published(svc, publisher, intake.mqtt)
        for delivery in intake.deliveries:
            webhooks.deliver(svc, delivery)
        got = device.wait_until(lambda got: any(t == SIGN for t, *_ in got)
                                and any("/events/" in t for t, *_ in got))
        time.sleep(0.3)  # time for anything else to show
        [text] = [p for t, p, _ in device.got if t == SIGN]
        assert text["text"] == "Road closed at gate: restricted_area (medium)"
        assert text["alert_id"] == closure and text["incident_id"] == intake.incidents[0]
        events = [p for t, p, _ in got if "/events/" in t]
        assert [e["id"] for e in events] == [loitering]
        [(_, body)] = handler.got
        assert json.loads(body)["alert"]["id"] == closure
    finally:
        device.close()

    # a sign that connects later shows the latest message (retained)
    later = Subscriber(broker, SIGN)
    try:
        [(_, shown, retained)] = later.wait_for(1)
    finally:
        later.close()
    assert shown["text"].startswith("Road closed at gate") and retained

    # the sign taken out of the settings: its pending message fails, saying why
    again = accept(svc, batch(city, [event(NOW, "restricted_area")]))
    svc.settings = svc.settings.model_copy(update={"signage": []})
    deliver(svc, publisher, again.mqtt[0])
    with svc.session() as session:
        row = session.get_one(MqttDelivery, again.mqtt[0])
    assert row.state == "failed" and row.last_error == "the sign closure is no longer configured"
