"""Events to alerts on the production stack: the node's sender publishes signed batches to a
real Redis broker, `safecity coordinator worker` (a separate process) stores them in PostgreSQL
and delivers webhooks with retries; a worker that is down loses nothing. An alert's evidence
travels on the pictures' queue: one that arrives before its alert waits for it, a forged one
is refused and logged."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from contract.live_views import EXPIRES_SECONDS
from contract.tasks import EVIDENCE_TASK, LIVE_QUEUE, SNAPSHOT_TASK
from coordinator import denials
from nodes.event_sender import EventSender, celery_publisher, evidence_message
from nodes.events import EventStore, StoredEvidence
from nodes.evidence import snapshot
from nodes.identity import load_identity
from nodes.live_view import LiveViewSender
from privacy.signing import SigningKey
from tests.support.world import World
from tests.unit.test_alerts import event

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")


SIGNAGE = 'webhook_allowed_networks = ["127.0.0.1/32"]\n'


@pytest.fixture
def city(tmp_path: Path, postgres_url: str):
    # the receiver fixture listens on loopback: the network the operator lists for signage
    world = World(tmp_path, postgres_url, f"{REDIS}/4", f"{REDIS}/5",
                  options={"webhook_allowed_networks": ["127.0.0.1/32"]})
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def wait_for(world: World, count: int, state: str = "open", seconds: float = 30) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = world.client.get("/alerts", headers=world.as_("operator"),
                                 params={"state": state}).json()["alerts"]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{count} alerts did not arrive; have {len(found)}\n"
                         + (world.root / "coordinator-worker.log").read_text(errors="replace"))


def test_events_through_redis_to_the_worker_and_a_webhook(city: World, tmp_path: Path,
                                                          receiver) -> None:  # type: ignore[no-untyped-def]
    url, handler = receiver
    handler.status = 503  # the signage controller is rebooting: the worker retries
    hook = city.client.post("/webhooks", headers=city.as_("admin"),
                            json={"url": url, "types": ["loitering"]}).json()
    node = city.nodes["alpha"]
    store = EventStore(tmp_path / "events.sqlite")
    publish, close = celery_publisher(f"{REDIS}/4")
    sender = EventSender(store, publish, node.node_id, "site-a",
                         load_identity(node.settings.keys_dir).signing)
    try:
        # the worker is not running yet: the broker keeps the batch
        store.add_many([event("loitering"), event("occupancy", count=12)])
        assert sender.send_pending() == 2
        city.start_coordinator_worker(SIGNAGE)
        arrived = wait_for(city, 2)
        assert {a["type"] for a in arrived} == {"loitering", "occupancy"}
        deadline = time.monotonic() + 30
        while not handler.got:  # the first attempt meets the 503
            assert time.monotonic() < deadline, "the webhook was not attempted"
            time.sleep(0.1)
        handler.status = 204
        while time.monotonic() < deadline:
            state = city.client.get(f"/webhooks/{hook['webhook_id']}/deliveries",
                                    headers=city.as_("admin")).json()["deliveries"]
            if state and state[0]["state"] == "delivered":
                break
            time.sleep(0.2)
        assert state[0]["state"] == "delivered" and state[0]["attempts"] >= 2, state

        # killed while idle and restarted: what was sent meanwhile arrives, nothing twice
        city.stop_coordinator_worker(signal.SIGKILL)
        store.add_many([event("running", zone=None), event("wrong_way")])
        assert sender.send_pending() == 2
        assert sender.send_pending() == 0
        city.start_coordinator_worker(SIGNAGE)
        assert len(wait_for(city, 4)) == 4

        # a live view takes its own queue to the same worker, and reaches the control room
        send_live, close_live = celery_publisher(f"{REDIS}/4", SNAPSHOT_TASK, LIVE_QUEUE,
                                                 EXPIRES_SECONDS)
        try:
            live = LiveViewSender(send_live, node.node_id, "site-a",
                                  load_identity(node.settings.keys_dir).signing)
            live.offer("gate", np.full((360, 640, 3), 90, np.uint8))
            assert live.send_pending() == 1
            forger = LiveViewSender(send_live, node.node_id, "site-a", SigningKey.generate())
            forger.offer("gate", np.zeros((360, 640, 3), np.uint8))
            assert forger.send_pending() == 1
        finally:
            close_live()
        path = f"/control-room/live/{node.node_id}/gate.jpg"
        deadline = time.monotonic() + 30
        while (shown := city.client.get(path, headers=city.as_("operator"))).status_code != 200:
            assert time.monotonic() < deadline, "the live view did not arrive"
            time.sleep(0.2)
        assert shown.content[:3] == b"\xff\xd8\xff"
        # no enrolled node signed it: counted for the interval's entry, not logged alone
        while not denials.pending(city.svc).get((denials.OTHER, "snapshot_rejected")):
            assert time.monotonic() < deadline, "the forged live view was not refused"
            time.sleep(0.2)
    finally:
        close()
        store.close()


def test_evidence_that_overtakes_its_alert_waits_for_it_and_a_forgery_is_refused(
        city: World, tmp_path: Path) -> None:
    node = city.nodes["alpha"]
    key = load_identity(node.settings.keys_dir).signing
    store = EventStore(tmp_path / "events.sqlite")
    (seq,) = store.add_many([event("loitering")])
    (stored,) = store.all()
    shot = snapshot(np.full((360, 640, 3), 90, np.uint8), (100, 80, 220, 300), 640, 60_000)
    evidence = StoredEvidence(seq, "gate", stored.time, shot.width, shot.height, shot.box,
                              shot.jpeg)
    send_picture, close_pictures = celery_publisher(f"{REDIS}/4", EVIDENCE_TASK, LIVE_QUEUE)
    publish, close = celery_publisher(f"{REDIS}/4")
    try:  # the evidence first (another queue may be taken first), and a forgery of it
        send_picture(evidence_message(evidence, node.node_id, "site-a", key))
        send_picture(evidence_message(evidence, node.node_id, "site-a", SigningKey.generate()))
        city.start_coordinator_worker()
        deadline = time.monotonic() + 30
        while not denials.pending(city.svc).get((denials.OTHER, "evidence_rejected")):
            assert time.monotonic() < deadline, "the forged evidence was not refused"
            time.sleep(0.2)
        assert EventSender(store, publish, node.node_id, "site-a", key).send_pending() == 1
        (alert,) = wait_for(city, 1)
        path = f"/incidents/{alert['incident_id']}"
        while not (shown := city.client.get(path, headers=city.as_("operator")).json()
                   )["evidence"]:
            assert time.monotonic() < deadline + 30, "the evidence did not reach its alert"
            time.sleep(0.5)
        (kept,) = shown["evidence"]
        assert kept["alert_id"] == alert["id"] and kept["intact"] is True
        picture = city.client.get(f"{path}/evidence/{kept['id']}.jpg",
                                  headers=city.as_("operator"))
        assert picture.content == shot.jpeg  # byte for byte, out of PostgreSQL
        rejected = sum(e.record.outcome == "evidence_rejected"
                       for e in city.svc.audit.entries(limit=10_000))
        # the early one waited, it was not refused; the forgery was counted once
        assert rejected == 0
        assert denials.pending(city.svc) == {(denials.OTHER, "evidence_rejected"): 1}
    finally:
        close_pictures()
        close()
        store.close()
