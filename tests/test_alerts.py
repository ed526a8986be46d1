"""Node events to the control room: signed batches from the node's outbox, checked and stored
once at the coordinator, the alert queue (acknowledge, assign, close), the live feed (server-sent
events from a real server) and signed outbound webhooks to a real HTTP receiver."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from world import World, embedded_world

from audit.records import Action
from coordinator.alert_intake import EventsRejected, accept
from coordinator.db import Alert
from coordinator.webhooks import DeliveryFailed, deliver, verify
from nodes.event_sender import EventSender, message
from nodes.events import EventStore, StoredEvent
from nodes.identity import load_identity
from privacy.signing import SigningKey
from served import serving

NOW = datetime.now(UTC).replace(microsecond=0)


def event(type_: str = "restricted_area", camera: str = "gate", **changes) -> StoredEvent:  # type: ignore[no-untyped-def]
    fields = dict(type=type_, rule=f"{type_}-1", camera=camera, zone="platform", line=None,
                  direction=None, time=NOW, count=1, tokens=("0123456789abcdef",))
    fields.update(changes)
    return StoredEvent(**fields)  # type: ignore[arg-type]


@pytest.fixture
def city(tmp_path: Path):
    world = embedded_world(tmp_path)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def sender(world: World, store: EventStore, publish=None) -> EventSender:  # type: ignore[no-untyped-def]
    node = world.nodes["alpha"]
    return EventSender(store, publish or (lambda body: accept(world.svc, body)), node.node_id,
                       "site-a", load_identity(node.settings.keys_dir).signing)


def alerts(world: World, who: str = "operator", **params) -> list[dict]:  # type: ignore[no-untyped-def]
    response = world.client.get("/alerts", headers=world.as_(who), params=params)
    assert response.status_code == 200, response.text
    return response.json()["alerts"]


def test_events_reach_the_alert_queue_once_and_are_handled(city: World, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.add_many([event(), event("loitering", zone="square"),
                    event("line_crossing", zone=None, line="door", direction="in")])
    out = sender(city, store)
    assert out.send_pending() == 3 and store.unsent(10) == []
    queue = alerts(city)
    assert [a["type"] for a in queue] == ["loitering", "restricted_area"]  # newest first
    assert queue[0]["tokens"] == ["0123456789abcdef"] and queue[0]["site_id"] == "site-a"
    assert [a["type"] for a in alerts(city, state="logged")] == ["line_crossing"]
    # the same events again (the broker took the batch twice): stored once
    again = accept(city.svc, message(store.all(), out.node_id, "site-a", out.key))
    assert again.alerts == [] and again.duplicates == 3

    first = queue[1]["id"]
    ops = city.as_("operator")
    assert city.client.post(f"/alerts/{first}/assign", headers=ops,
                            json={"username": "police"}).json()["code"] == "not_an_operator"
    assigned = city.client.post(f"/alerts/{first}/assign", headers=ops,
                                json={"username": "operator"})
    assert assigned.json()["assigned_to"] == "operator"
    acked = city.client.post(f"/alerts/{first}/acknowledge", headers=ops).json()
    assert acked["state"] == "acknowledged" and acked["handled_by"] == "operator"
    twice = city.client.post(f"/alerts/{first}/acknowledge", headers=ops)
    assert twice.status_code == 409 and twice.json()["code"] == "wrong_state"
    assert city.client.post(f"/alerts/{first}/close", headers=ops).json()["state"] == "closed"
    assert [a["id"] for a in alerts(city, state="closed")] == [first]
    assert city.client.post("/alerts/99999/close", headers=ops).status_code == 404
    # least privilege: police, planners and admins do not run the control room
    for who in ("police", "planner", "admin"):
        assert city.client.get("/alerts", headers=city.as_(who)).status_code == 403
    assert city.client.get("/alerts").status_code == 401


def test_batches_not_from_the_enrolled_node_are_rejected(city: World, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.add_many([event()])
    node = city.nodes["alpha"]
    own = load_identity(node.settings.keys_dir).signing
    cases = {
        "not signed by the enrolled key": message(store.all(), node.node_id, "site-a",
                                                  SigningKey.generate()),
        "is enrolled at site-a": message(store.all(), node.node_id, "site-b", own),
        "is not an enrolled node": message(store.all(), "ghost-node", "site-a", own),
        "cameras not enrolled": message([event(camera="roof", seq=9)], node.node_id, "site-a", own),
        "not an event batch": {"batch": {"node_id": node.node_id}, "signature": "x"},
    }
    tampered = message(store.all(), node.node_id, "site-a", own)
    tampered["batch"]["events"][0]["type"] = "loitering"
    cases["not signed by the enrolled key "] = tampered
    for reason, body in cases.items():
        with pytest.raises(EventsRejected, match=reason.strip()):
            accept(city.svc, body)
    with city.svc.session() as session:
        assert session.query(Alert).count() == 0


def test_a_broker_that_fails_keeps_events_waiting(city: World, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.add_many([event(), event("running")])
    calls = []

    def broken(body):  # type: ignore[no-untyped-def]
        calls.append(body)
        raise ConnectionRefusedError("broker down")

    with pytest.raises(ConnectionRefusedError):
        sender(city, store, broken).send_pending()
    assert len(store.unsent(10)) == 2 and calls
    assert sender(city, store).send_pending() == 2
    assert store.unsent(10) == [] and len(alerts(city)) == 2


def test_webhooks_are_signed_filtered_and_retried(city: World, tmp_path: Path,
                                                  receiver) -> None:  # type: ignore[no-untyped-def]
    url, handler = receiver
    admin = city.as_("admin")
    assert city.client.post("/webhooks", headers=admin,
                            json={"url": "ftp://x/y"}).status_code == 422
    assert city.client.post("/webhooks", headers=admin,
                            json={"url": "http://u:p@x/y"}).status_code == 422
    assert city.client.post("/webhooks", headers=city.as_("operator"),
                            json={"url": url}).status_code == 403
    created = city.client.post("/webhooks", headers=admin,
                               json={"url": url, "types": ["restricted_area"]})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in city.client.get("/webhooks", headers=admin).json()["webhooks"][0]

    store = EventStore(tmp_path / "events.sqlite")
    store.add_many([event(), event("loitering")])
    out = sender(city, store)
    batch = message(store.unsent(10), out.node_id, "site-a", out.key)
    intake = accept(city.svc, batch)
    assert len(intake.alerts) == 2 and len(intake.deliveries) == 1  # only the subscribed type

    handler.status = 500
    with pytest.raises(DeliveryFailed, match="HTTP 500"):
        deliver(city.svc, intake.deliveries[0])
    handler.status = 204
    deliver(city.svc, intake.deliveries[0])
    deliver(city.svc, intake.deliveries[0])  # a redelivered task does not post twice
    assert len(handler.got) == 2
    headers, body = handler.got[-1]
    assert verify(hook["secret"], headers, body, datetime.now(UTC))
    assert not verify(hook["secret"], headers, body.replace(b"restricted", b"loitering"),
                      datetime.now(UTC))
    assert not verify(hook["secret"], headers, body, datetime.now(UTC) + timedelta(hours=1))
    sent = json.loads(body)
    assert sent["type"] == "alert.restricted_area" and sent["alert"]["camera"] == "gate"
    state = city.client.get(f"/webhooks/{hook['webhook_id']}/deliveries", headers=admin).json()
    assert state["deliveries"][0]["state"] == "delivered"
    assert state["deliveries"][0]["attempts"] == 2
    removed = city.client.delete(f"/webhooks/{hook['webhook_id']}", headers=admin)
    assert removed.status_code == 204
    outcomes = [e.record.outcome for e in city.svc.audit.entries()
                if e.record.action is Action.CONFIG_CHANGE]
    assert "webhook_added" in outcomes and "webhook_removed" in outcomes


def test_the_live_feed_streams_new_alerts(city: World, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.add_many([event("left_object")])
    out = sender(city, store)
    out.send_pending()  # before the client connects: not replayed unless asked for
    with serving(city.svc) as base:
        assert httpx.get(f"{base}/alerts/stream", headers=city.as_("police")).status_code == 403
        got: list[dict] = []
        with httpx.stream("GET", f"{base}/alerts/stream", headers=city.as_("operator"),
                          timeout=10) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            store.add_many([event("running", zone=None), event("wrong_way")])
            threading.Timer(0.5, out.send_pending).start()
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                if len(got) == 2:
                    break
        assert [a["type"] for a in got] == ["running", "wrong_way"]
        # a client that reconnects says what it saw last and gets the rest
        with httpx.stream("GET", f"{base}/alerts/stream", timeout=10,
                          headers={**city.as_("operator"),
                                   "Last-Event-ID": "0"}) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    assert json.loads(line[6:])["type"] == "left_object"
                    break
