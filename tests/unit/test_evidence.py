"""The evidence of alerts: a node run cuts it from the redacted frames (the face detector that
finds faces in the raw frames finds none in it), the triggering object's box drawn, under the
byte cap; the node signs its metadata with the JPEG's SHA-256 and sends it after its event;
the coordinator refuses what is unsigned, altered, or not about that node's alert, keeps the
rest bound to the alert, serves it to the control room only (each look logged), and deletes it
with the alert at the retention purge."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select, update

from audit.records import Action
from contract.evidence import SignedEvidence
from coordinator.alert_intake import accept
from coordinator.db import AlertEvidence
from coordinator.errors import EvidenceEarly, EvidenceRejected
from coordinator.evidence import accept_evidence
from coordinator.housekeeping import purge_alerts
from nodes.config import load_settings
from nodes.event_sender import EventSender, EvidenceSender, evidence_message
from nodes.events import EventStore, StoredEvent, StoredEvidence
from nodes.evidence import BOX_COLOUR, snapshot
from nodes.identity import load_identity
from nodes.node import run_node
from privacy import model_registry
from privacy.redaction.faces import CenterFaceDetector
from privacy.signing import SigningKey
from simulation.synthetic import Scene, SceneSpec
from tests.support.incident_events import event, send
from tests.support.world import World, embedded_world

SPEC = SceneSpec(width=960, height=540, fps=10, seconds=4, people=6, vehicles=1, seed=11)
SCENE = "seed=11,seconds=4,width=960,height=540,people=6,vehicles=1,fps=10"
# the demo's cameras' analytics (drawn people: the motion detector), the whole frame restricted
ANALYTICS = """[cameras.analytics]
detector = "motion"
zones = [{id = "all", polygon = [[0, 0], [1, 0], [1, 1], [0, 1]]}]
rules = [{id = "keep-out", type = "restricted_area", zone = "all"}]"""
T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def taken(tmp_path_factory: pytest.TempPathFactory, model_dir: Path
          ) -> tuple[list[StoredEvent], list[StoredEvidence]]:
    """A node run (no broker: everything stays in its outbox) over a synthetic street with
    painted faces; its events and their evidence."""
    root = tmp_path_factory.mktemp("evidence-node")
    config = root / "node.toml"
    config.write_text(f'site_id = "test-site"\ndata_dir = "{root / "data"}"\n'
                      'plate_sightings = false\nevidence_seconds = 0.5\nevidence_width = 640\n'
                      'evidence_max_bytes = 60000\n'
                      f'[[cameras]]\nid = "gate"\nsource = "synthetic:{SCENE}"\n{ANALYTICS}\n')
    settings = load_settings(config, model_dir=model_dir)
    (report,) = run_node(settings)
    assert report.status == "ok", report.error
    store = EventStore(settings.stores.events)
    try:
        return store.all(), store.evidence()
    finally:
        store.close()


def test_a_node_run_takes_evidence_with_no_face_in_it(
        taken: tuple[list[StoredEvent], list[StoredEvidence]], model_dir: Path) -> None:
    events, evidence = taken
    by_seq = {e.seq: e for e in events}
    assert len(evidence) >= 3
    assert len(evidence) < len(events)  # thinned: at most one every 0.5 s of video
    checker = CenterFaceDetector(model_registry.model_path("centerface", model_dir))
    raw_faces = sum(len(checker.detect(cv2.resize(frame, (640, 360),
                                                  interpolation=cv2.INTER_AREA)))
                    for index, (frame, _) in enumerate(Scene(SPEC).frames()) if index % 4 == 0)
    assert raw_faces >= 5  # the same detector sees faces in the raw frames, at the same size
    for shot in evidence:
        assert by_seq[shot.seq].type == "restricted_area" and by_seq[shot.seq].camera == "gate"
        assert shot.time == by_seq[shot.seq].time  # the frame the event fired on
        assert shot.jpeg[:3] == b"\xff\xd8\xff" and len(shot.jpeg) <= 60_000
        image = cv2.imdecode(np.frombuffer(shot.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (shot.height, shot.width, 3) == (360, 640, 3)
        enlarged = cv2.resize(image, (SPEC.width, SPEC.height), interpolation=cv2.INTER_CUBIC)
        assert checker.detect(image) == [] and checker.detect(enlarged) == [], shot.seq
        assert shot.box is not None
        left, top, right, bottom = shot.box
        assert 0 <= left < right < 640 and 0 <= top < bottom < 360
        edge = image[top, left:right + 1].astype(float)  # the box's top edge, drawn
        assert np.abs(edge.mean(axis=0) - BOX_COLOUR).max() < 40, edge.mean(axis=0)


def test_the_snapshot_fits_its_cap_and_the_box_lands_where_the_object_is() -> None:
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 255, (1080, 1920, 3), np.uint8)  # noise: the worst case for JPEG
    before = frame.copy()
    shot = snapshot(frame, (960, 540, 1200, 900), 1280, 40_000)
    assert np.array_equal(frame, before)  # drawn on a copy, never on the recorded frame
    assert len(shot.jpeg) <= 40_000 and shot.width <= 1280
    scale = shot.width / 1920
    assert shot.box == (round(960 * scale), round(540 * scale), round(1200 * scale),
                        round(900 * scale))
    whole = snapshot(np.zeros((360, 640, 3), np.uint8), None, 640, 30_000)
    assert whole.box is None and whole.width == 640
    with pytest.raises(ValueError, match="fits"):
        snapshot(frame, None, 640, 100)


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path)
    world.set_time(T0 + timedelta(days=1))
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def key_of(world: World, name: str = "alpha") -> SigningKey:
    return load_identity(world.nodes[name].settings.keys_dir).signing


def picture(width: int = 640, height: int = 360, grey: int = 90) -> bytes:
    image = np.full((height, width, 3), grey, np.uint8)  # a redacted frame, as the node cuts it
    return snapshot(image, (100, 80, 220, 300), width, 60_000).jpeg


def evidence_of(world: World, seq: int, camera: str = "gate", time: datetime = T0,
                jpeg: bytes | None = None, box: tuple[int, int, int, int] | None = (100, 80,
                                                                                     220, 300),
                key: SigningKey | None = None, size: tuple[int, int] = (640, 360)
                ) -> dict[str, Any]:
    node = world.nodes["alpha"]
    return evidence_message(StoredEvidence(seq, camera, time, *size, box,
                                           jpeg if jpeg is not None else picture()),
                            node.node_id, "site-a", key or key_of(world))


def test_the_coordinator_keeps_signed_evidence_of_the_node_s_alert_once(city: World) -> None:
    alert = event(T0)
    intake = send(city, [alert])
    body = evidence_of(city, alert.seq)
    stored = accept_evidence(city.svc, body)
    assert stored is not None
    assert accept_evidence(city.svc, body) is None  # a resend: kept once
    with city.svc.session() as session:
        row = session.get_one(AlertEvidence, stored)
        assert (row.alert_id, row.incident_id) == (intake.alerts[0], intake.incidents[0])
        assert row.jpeg == base64.b64decode(body["jpeg"])
        assert row.metadata_ == body["evidence"] and row.signature == body["signature"]


def test_unsigned_altered_or_misdirected_evidence_is_refused(city: World) -> None:
    alert = event(T0)
    send(city, [alert])
    good = evidence_of(city, alert.seq)
    other = picture(grey=91)  # another picture, as a node would cut it

    def altered(**change: Any) -> dict[str, Any]:
        return {**good, "evidence": {**good["evidence"], **change}}

    refusals = [
        (evidence_of(city, alert.seq, key=SigningKey.generate()), "not signed by the enrolled"),
        ({**good, "signature": ""}, "not signed by the enrolled"),
        ({**good, "jpeg": base64.b64encode(other).decode()}, "not the one signed"),
        (altered(box={"left": 0, "top": 0, "right": 10, "bottom": 10}),
         "not signed by the enrolled"),  # the box moved after signing
        (altered(seq=alert.seq + 1), "not signed by the enrolled"),
        (evidence_of(city, alert.seq, camera="roof"), "cameras not enrolled"),
        (evidence_of(city, alert.seq, camera="lobby"), "another camera or time"),
        (evidence_of(city, alert.seq, time=T0 + timedelta(seconds=1)), "another camera or time"),
        (evidence_of(city, alert.seq, size=(320, 180)), "signed as 320x180"),
        (evidence_of(city, alert.seq, box=(0, 0, 640, 10)), "box is not inside"),
        (evidence_of(city, alert.seq, jpeg=b"<svg>not a picture</svg>"), "not a JPEG"),
        ({"evidence": {"node_id": "x"}}, "not evidence"),
        ({**good, "raw": "extra"}, "not evidence"),
    ]
    for body, reason in refusals:
        with pytest.raises(EvidenceRejected, match=reason):
            accept_evidence(city.svc, body)
    with pytest.raises(EvidenceEarly):  # before its alert: taken again later by the worker
        accept_evidence(city.svc, evidence_of(city, alert.seq + 1000))
    with city.svc.session() as session:
        assert session.scalar(select(func.count()).select_from(AlertEvidence)) == 0
    assert accept_evidence(city.svc, good) is not None


def test_the_control_room_alone_sees_evidence_and_each_look_is_logged(city: World) -> None:
    alert = event(T0)
    incident = send(city, [alert]).incidents[0]
    stored = accept_evidence(city.svc, evidence_of(city, alert.seq))
    detail = city.client.get(f"/incidents/{incident}", headers=city.as_("operator")).json()
    (shown,) = detail["evidence"]
    assert shown["id"] == stored and shown["intact"] is True
    assert shown["box"] == {"left": 100, "top": 80, "right": 220, "bottom": 300}
    path = f"/incidents/{incident}/evidence/{stored}.jpg"
    start = city.svc.audit.size()
    response = city.client.get(path, headers=city.as_("operator"))
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content == picture()
    (look,) = [e for e in city.svc.audit.entries(start, 10)
               if e.record.action is Action.CONSULTATION]
    assert look.record.outcome == "evidence_viewed" and look.record.actor.role == "site_operator"
    sealed = {k: json.loads(v) for k, v in city.svc.audit.details(look.index).items()}
    assert sealed == {"evidence": str(stored), "alert": str(detail["alerts"][0]["id"]),
                      "incident": str(incident)}
    for who in ("police", "dpo", "planner", "judge"):
        assert city.client.get(path, headers=city.as_(who)).status_code == 403
    assert city.client.get(path).status_code == 401
    assert city.client.get(f"/incidents/{incident + 1}/evidence/{stored}.jpg",
                           headers=city.as_("operator")).status_code == 404
    page = city.client.get(f"/control-room/incidents/{incident}",
                           headers={**city.as_("operator"), "accept": "text/html"}).text
    assert f'src="{path}"' in page and "signature and picture check" in page
    # a picture altered where it is stored no longer checks, and says so
    with city.svc.session() as session:
        session.execute(update(AlertEvidence).values(jpeg=picture(grey=91)))
    assert city.client.get(f"/incidents/{incident}", headers=city.as_("operator")
                           ).json()["evidence"][0]["intact"] is False
    page = city.client.get(f"/control-room/incidents/{incident}",
                           headers={**city.as_("operator"), "accept": "text/html"}).text
    assert "does not check" in page


def test_evidence_goes_with_its_alert_at_the_retention_purge(city: World) -> None:
    old, recent = event(T0), event(T0 + timedelta(days=5), zone="square")
    city.set_time(T0 + timedelta(days=6))
    send(city, [old, recent])
    for alert in (old, recent):
        assert accept_evidence(city.svc, evidence_of(city, alert.seq, time=alert.time))
    city.set_time(T0 + timedelta(days=city.settings.alert_retention_days, hours=1))
    assert purge_alerts(city.svc) == 1
    with city.svc.session() as session:
        kept = session.scalars(select(AlertEvidence)).all()
        assert [r.metadata_["seq"] for r in kept] == [recent.seq]


def test_the_node_sends_evidence_only_after_its_event_and_keeps_it_when_the_broker_fails(
        city: World, tmp_path: Path) -> None:
    node = city.nodes["alpha"]
    store = EventStore(tmp_path / "events.sqlite")
    (seq,) = store.add_many([StoredEvent("restricted_area", "keep-out", "gate", "platform",
                                         None, None, T0, 1, ("0123456789abcdef",))])
    store.add_evidence(StoredEvidence(seq, "gate", T0, 640, 360, (100, 80, 220, 300),
                                      picture()))
    sent: list[dict[str, Any]] = []

    def broken(body: dict[str, Any]) -> None:
        raise ConnectionError("broker down")

    evidence = EvidenceSender(store, sent.append, node.node_id, "site-a", key_of(city))
    assert evidence.send_pending() == 0  # its event has not gone yet
    EventSender(store, lambda body: accept(city.svc, body), node.node_id, "site-a",
                key_of(city)).send_pending()
    failing = EvidenceSender(store, broken, node.node_id, "site-a", key_of(city))
    with pytest.raises(ConnectionError):
        failing.send_pending()
    assert evidence.send_pending() == 1 and evidence.send_pending() == 0  # kept, then sent once
    (body,) = sent
    assert SignedEvidence.model_validate(body).evidence.seq == seq
    assert accept_evidence(city.svc, body) is not None
    store.close()
