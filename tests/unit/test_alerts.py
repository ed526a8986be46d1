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

from audit.records import Action
from coordinator.alert_intake import accept
from coordinator.db import Alert
from coordinator.errors import DeliveryFailed, EventsRejected
from coordinator.webhooks import FAILED, deliver, verify
from nodes.event_sender import EventSender, message
from nodes.events import EventStore, StoredEvent
from nodes.identity import load_identity
from privacy.signing import SigningKey
from tests.support.deliveries import backoff_over
from tests.support.served import free_port, serving
from tests.support.world import World, embedded_world

NOW = datetime.now(UTC).replace(microsecond=0)


def event(type_: str = "restricted_area", camera: str = "gate", **changes) -> StoredEvent:  # type: ignore[no-untyped-def]
    fields = dict(type=type_, rule=f"{type_}-1", camera=camera, zone="platform", line=None,
                  direction=None, time=NOW, count=1, tokens=("0123456789abcdef",))
    fields.update(changes)
    return StoredEvent(**fields)  # type: ignore[arg-type]


@pytest.fixture
def city(tmp_path: Path):
    # the receiver fixture listens on loopback: here it stands for a signage network the
    # operator lists; the `strict` city lists none
    world = embedded_world(tmp_path, options={"webhook_allowed_networks": ["127.0.0.1/32"]})
    world.add_node("alpha", "site-a")
    yield world
    world.close()


@pytest.fixture
def strict(tmp_path: Path):
    world = embedded_world(tmp_path / "strict")
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
    entries = city.svc.audit.size()
    again = city.client.post(f"/alerts/{first}/assign", headers=ops,
                             json={"username": "operator"})  # to the owner it has: a no-op
    assert again.status_code == 409 and again.json()["code"] == "no_change"
    assert city.svc.audit.size() == entries  # no permanent entry for it
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
    deliver(city.svc, intake.deliveries[0])  # early (its backoff runs): no attempt
    assert len(handler.got) == 1
    backoff_over(city.svc, intake.deliveries[0])
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


# An admin's webhook URLs that would make the coordinator reach inside (SSRF), and the reason
# each refusal names.
INSIDE = {
    "http://127.0.0.1:5432/": "loopback",
    "http://169.254.169.254/latest/meta-data/iam/": "link-local",
    "http://0x7f000001:6379/": "loopback",
    "http://[::1]:5432/": "loopback",
    "http://localhost:8080/hook": "loopback",
    "http://2130706433/": "loopback",
    "http://127.1/": "loopback",
    "http://0177.0.0.1/": "loopback",
    "http://[::ffff:127.0.0.1]:6379/": "loopback",
    "http://[::ffff:7f00:1]/": "loopback",
    "http://10.20.0.7/": "private",
    "http://192.168.1.1/": "private",
    "http://100.100.100.200/": "not a public",
    "http://0.0.0.0:6379/": "unspecified",
    "http://224.0.0.251/": "multicast",
    "http://240.0.0.1/": "reserved",
    "http://[fe80::1]/": "link-local",
    "http://[fd00:ec2::254]/": "private",
    "http://[64:ff9b::a9fe:a9fe]/": "link-local",
    "http://nowhere.invalid/": "does not resolve",
}


def one_delivery(world: World, tmp_path: Path) -> int:
    """A node's event stored as an alert, with its delivery planned to every webhook."""
    store = EventStore(tmp_path / f"events-{world.tag}.sqlite")
    store.add_many([event()])
    out = sender(world, store)
    intake = accept(world.svc, message(store.unsent(10), out.node_id, "site-a", out.key))
    [delivery] = intake.deliveries
    return delivery


def deliveries(world: World, hook: dict) -> list[dict]:  # type: ignore[type-arg]
    answer = world.client.get(f"/webhooks/{hook['webhook_id']}/deliveries",
                              headers=world.as_("admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()["deliveries"]


def test_webhooks_to_inside_addresses_are_refused(strict: World) -> None:
    admin = strict.as_("admin")
    for url, reason in INSIDE.items():
        answer = strict.client.post("/webhooks", headers=admin, json={"url": url})
        assert answer.status_code == 422, f"{url}: {answer.text}"
        assert answer.headers["content-type"].startswith("application/problem+json")
        body = answer.json()
        assert body["code"] == "target_refused" and reason in body["detail"], (url, body)
    # a name with one inside address among public ones is refused: the client might pick it
    strict.svc.resolve = lambda host, port: ["93.184.215.14", "127.0.0.1"]
    answer = strict.client.post("/webhooks", headers=admin, json={"url": "http://two.example/"})
    detail = answer.json()["detail"]
    assert answer.status_code == 422 and "two.example resolves to a loopback address" in detail
    assert "127.0.0.1" not in detail  # the inside's addresses are not told to the admin
    assert strict.client.get("/webhooks", headers=admin).json()["webhooks"] == []


def test_a_name_that_moves_inside_after_registration_is_not_delivered_to(
        strict: World, tmp_path: Path, receiver) -> None:  # type: ignore[no-untyped-def]
    """DNS rebinding: the name resolves to a public address when the admin registers it, to
    loopback when the delivery is made. The delivery checks again, and does not go."""
    url, handler = receiver
    port = url.split(":")[2].split("/")[0]
    answers = {"registration": ["93.184.215.14"], "delivery": ["127.0.0.1"]}
    stage = ["registration"]
    strict.svc.resolve = lambda host, _: answers[stage[0]] if host == "localhost" else []
    created = strict.client.post("/webhooks", headers=strict.as_("admin"),
                                 json={"url": f"http://localhost:{port}/hook"})
    assert created.status_code == 201, created.text
    stage[0] = "delivery"
    delivery = one_delivery(strict, tmp_path)
    with pytest.raises(DeliveryFailed, match=FAILED):
        deliver(strict.svc, delivery)
    assert handler.got == []
    [logged] = deliveries(strict, created.json())
    assert logged["state"] == "pending" and logged["last_error"] == FAILED


def test_a_delivery_goes_to_the_checked_address_with_the_name_as_host(
        city: World, tmp_path: Path, receiver) -> None:  # type: ignore[no-untyped-def]
    """The name is resolved once, by the coordinator; the connection goes to that address
    (the system resolver does not know the name at all) and the Host header keeps it."""
    url, handler = receiver
    port = url.split(":")[2].split("/")[0]
    city.svc.resolve = lambda host, _: ["127.0.0.1"] if host == "signage.city.test" else []
    created = city.client.post("/webhooks", headers=city.as_("admin"),
                               json={"url": f"http://signage.city.test:{port}/hook"})
    assert created.status_code == 201, created.text
    deliver(city.svc, one_delivery(city, tmp_path))
    [(headers, _)] = handler.got
    assert headers["host"] == f"signage.city.test:{port}"
    assert deliveries(city, created.json())[0]["state"] == "delivered"


def test_the_delivery_log_does_not_tell_the_admin_why_a_connection_failed(
        city: World, tmp_path: Path) -> None:
    """Connection errors are a port scanner's answers (refused, reset, timed out): the admin
    sees that the delivery failed, and the reason stays in the coordinator's own log."""
    closed = f"http://127.0.0.1:{free_port()}/hook"
    created = city.client.post("/webhooks", headers=city.as_("admin"), json={"url": closed})
    assert created.status_code == 201, created.text
    with pytest.raises(DeliveryFailed) as failed:
        deliver(city.svc, one_delivery(city, tmp_path))
    assert str(failed.value).endswith(FAILED)
    [logged] = deliveries(city, created.json())
    assert logged["last_error"] == FAILED == "delivery failed"


def test_an_https_delivery_keeps_the_name_for_sni_and_the_certificate(
        city: World, tmp_path: Path) -> None:
    """Over HTTPS the connection goes to the checked address, and TLS still speaks to the
    name: the receiver's certificate names only signage.city.test (not 127.0.0.1), so the
    delivery succeeds only if SNI and the certificate check use the name."""
    import ssl
    from http.server import ThreadingHTTPServer

    from privacy.pki import issue, make_ca
    from tests.conftest import Receiver

    ca = make_ca(tmp_path / "ca")
    cert = issue(ca, tmp_path / "tls", "signage", ["signage.city.test"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.certificate, cert.key)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[func-returns-value]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    Receiver.got, Receiver.status = [], 204
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        city.svc.resolve = lambda host, _: ["127.0.0.1"] if host == "signage.city.test" else []
        created = city.client.post("/webhooks", headers=city.as_("admin"),
                                   json={"url": f"https://signage.city.test:{port}/hook"})
        assert created.status_code == 201, created.text

        def trusting_the_city_ca(url, **kwargs):  # type: ignore[no-untyped-def]
            with httpx.Client(verify=str(ca.certificate), trust_env=False) as client:
                return client.post(url, **kwargs)

        deliver(city.svc, one_delivery(city, tmp_path), post=trusting_the_city_ca)
        assert names == ["signage.city.test"] and len(Receiver.got) == 1
        assert Receiver.got[0][0]["host"] == f"signage.city.test:{port}"
    finally:
        server.shutdown()


def test_a_failing_webhook_is_shown_to_the_operator_until_a_delivery_succeeds(
        city: World, tmp_path: Path, receiver) -> None:  # type: ignore[no-untyped-def]
    """The control room's status line names the receiver by host and port only (a URL's path
    and query can carry a token), with the HTTP status and the actions waiting; the incident
    list works meanwhile, and the line clears once a delivery goes through."""
    url, handler = receiver
    hook_url = f"{url}/sign-7?token=hook-token-4711"
    created = city.client.post("/webhooks", headers=city.as_("admin"), json={"url": hook_url})
    assert created.status_code == 201, created.text
    ops = city.as_("operator")
    assert city.client.get("/delivery-status", headers=ops).json()["ok"] is True
    handler.status = 503
    first, second = one_delivery(city, tmp_path), one_delivery(city, tmp_path)
    for delivery in (first, second):
        with pytest.raises(DeliveryFailed, match="HTTP 503"):
            deliver(city.svc, delivery)
    found = city.client.get("/delivery-status", headers=ops).json()
    [trouble] = found["problems"]
    where = url.removeprefix("http://").removesuffix("/hook")
    assert trouble["channel"] == "webhook" and trouble["target"] == where
    assert trouble["waiting"] == 2
    assert trouble["message"].startswith(
        f"Webhook to {where} failing (HTTP 503): 2 actions waiting since ")
    assert "token" not in str(found) and "sign-7" not in str(found)
    assert city.client.get("/incidents", headers=ops).status_code == 200
    room = city.client.get("/control-room", headers=ops)
    assert room.status_code == 200 and f"Webhook to {where} failing" in room.text
    assert "hook-token-4711" not in room.text
    # an operator without alert access does not get it: a problem document
    denied = city.client.get("/delivery-status", headers=city.as_("planner"))
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")

    handler.status = 204
    backoff_over(city.svc, first)  # its retry's countdown has run
    deliver(city.svc, first)
    found = city.client.get("/delivery-status", headers=ops).json()
    assert found["ok"] is True and found["problems"] == []
