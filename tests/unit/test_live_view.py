"""Live views for the control room: each camera's newest frame after redaction, downscaled,
signed by the node, kept at the coordinator (newest only) and shown to the control room only.
The proof that no face leaves: the face detector that finds faces in the raw frames finds none
in any snapshot the node sent."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import cv2
import numpy as np
import pytest

from audit.records import Action
from contract.live_views import SignedSnapshot, Snapshot
from coordinator.errors import SnapshotRejected
from coordinator.live_views import accept_snapshot, live_view
from coordinator.roles import Role
from coordinator.services import users
from coordinator.services.requests import NewUser
from nodes.camera import run_camera
from nodes.event_sender import BackgroundSender
from nodes.identity import load_identity
from nodes.live_view import LiveViewSender, jpeg_of
from privacy import model_registry
from privacy.redaction.engine import Detectors
from privacy.redaction.faces import CenterFaceDetector
from privacy.signing import SigningKey
from simulation.synthetic import Scene, SceneSpec
from tests.support.world import PASSWORD, World, embedded_world, people_hash

SCENE = "seed=4,seconds=1.5,width=640,height=360,people=4,vehicles=1,fps=10"
HTML = {"accept": "text/html"}


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path)
    world.add_node("alpha", "site-a", sources={"gate": f"synthetic:{SCENE}"})
    yield world
    world.close()


def sender(world: World, publish, every: float = 0.0) -> LiveViewSender:  # type: ignore[no-untyped-def]
    node = world.nodes["alpha"]
    return LiveViewSender(publish, node.node_id, "site-a",
                          load_identity(node.settings.keys_dir).signing, every=every)


def test_no_face_leaves_in_a_live_view(city: World, model_dir: Path) -> None:
    node = city.nodes["alpha"]
    sent: list[dict] = []
    live = sender(city, sent.append, every=0.05)
    camera = next(c for c in node.settings.cameras if c.id == "gate")
    with BackgroundSender(live):  # as in a node run: sent from its own thread
        report = run_camera(camera, node.settings, Detectors(node.settings.policy_for(camera),
                                                             model_dir), live=live)
    assert report.status == "ok", report.error
    live.send_pending()
    assert len(sent) >= 2
    checker = CenterFaceDetector(model_registry.model_path("centerface", model_dir))
    spec = SceneSpec(**{k: (float(v) if k == "seconds" else int(v))
                        for k, v in (i.split("=") for i in SCENE.split(","))})
    raw_faces = sum(len(checker.detect(cv2.imdecode(np.frombuffer(jpeg_of(frame, 640), np.uint8),
                                                    cv2.IMREAD_COLOR)))
                    for index, (frame, _) in enumerate(Scene(spec).frames()) if index % 3 == 0)
    assert raw_faces >= 5  # the same detector sees faces in the raw frames, at the same size
    for body in sent:
        shot = SignedSnapshot.model_validate(body).snapshot
        image = cv2.imdecode(np.frombuffer(base64.b64decode(shot.jpeg), np.uint8),
                             cv2.IMREAD_COLOR)
        assert image.shape[1] == 640
        assert checker.detect(image) == [], shot.time
        accept_snapshot(city.svc, body)
    kept = live_view(city.svc, node.node_id, "gate")
    assert kept is not None and kept.time == SignedSnapshot.model_validate(
        sent[-1]).snapshot.time.isoformat()


def snapshot(world: World, key: SigningKey | None = None, camera: str = "gate",
             jpeg: bytes | None = None, when: str = "2026-12-02T10:00:00+00:00") -> dict:
    node = world.nodes["alpha"]
    shot = Snapshot(node_id=node.node_id, site="site-a", camera=camera, time=when,
                    jpeg=base64.b64encode(jpeg if jpeg is not None else
                                          jpeg_of(np.zeros((90, 160, 3), np.uint8), 640)
                                          ).decode())
    key = key or load_identity(node.settings.keys_dir).signing
    return SignedSnapshot(snapshot=shot, signature=shot.sign(key)).model_dump(mode="json")


def test_only_the_enrolled_node_s_pictures_of_its_cameras_are_kept(city: World) -> None:
    for bad, reason in ((snapshot(city, key=SigningKey.generate()), "not signed by the enrolled"),
                        (snapshot(city, camera="roof"), "cameras not enrolled"),
                        (snapshot(city, jpeg=b"<html>not a picture</html>"), "not a JPEG"),
                        # decoding it would cost a pass per scan (red team 2)
                        (snapshot(city, jpeg=cv2.imencode(
                            ".jpg", np.zeros((90, 160, 3), np.uint8),
                            [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()), "not a baseline"),
                        ({"snapshot": {"node_id": "x"}}, "not a snapshot")):
        with pytest.raises(SnapshotRejected, match=reason):
            accept_snapshot(city.svc, bad)
    node_id = city.nodes["alpha"].node_id
    assert live_view(city.svc, node_id, "gate") is None
    assert accept_snapshot(city.svc, snapshot(city, when="2026-12-02T10:00:02+00:00"))
    assert accept_snapshot(city.svc, snapshot(city, when="2026-12-02T10:00:01+00:00")) is None
    assert live_view(city.svc, node_id, "gate").time == "2026-12-02T10:00:02+00:00"
    # the control room sees it; nobody else does
    path = f"/control-room/live/{node_id}/gate.jpg"
    picture = city.client.get(path, headers=city.as_("operator"))
    assert picture.status_code == 200 and picture.content[:3] == b"\xff\xd8\xff"
    assert picture.headers["content-type"] == "image/jpeg"
    for who in ("police", "dpo", "planner"):
        assert city.client.get(path, headers=city.as_(who)).status_code == 403
    assert city.client.get(f"/control-room/live/{node_id}/lobby.jpg",
                           headers=city.as_("operator")).status_code == 404
    assert city.client.get("/control-room/live/..%2F..%2Fkeys/gate.jpg",
                           headers=city.as_("operator")).status_code == 404
    page = city.client.get("/control-room", headers={**city.as_("operator"), **HTML}).text
    assert f'src="{path}?t=' in page and 'alt="Redacted live view of camera gate' in page


def test_a_sender_keeps_only_the_newest_and_drops_what_the_broker_refuses(city: World) -> None:
    calls: list[dict] = []

    def broken(body: dict) -> None:
        calls.append(body)
        raise ConnectionError("broker down")

    clock = [0.0]
    live = LiveViewSender(broken, "n", "site-a", SigningKey.generate(), every=2.0,
                          clock=lambda: clock[0])
    frame = np.full((720, 1280, 3), 128, np.uint8)
    assert live.offer("gate", frame) and not live.offer("gate", frame)  # at most every 2 s
    clock[0] = 2.5
    assert live.offer("gate", frame) and live.offer("lobby", frame)
    with pytest.raises(ConnectionError):
        live.send_pending()
    assert live.send_pending() == 0 and len(calls) == 1  # dropped: the next one replaces it


def looks(world: World, start: int) -> list[tuple[str, dict[str, str]]]:
    """The live-view looks logged since ``start``: who (pseudonym) and what (sealed)."""
    return [(e.record.actor.pseudonym,
             {k: json.loads(v) for k, v in world.svc.audit.details(e.index).items()})
            for e in world.svc.audit.entries(start, 1000)
            if e.record.action is Action.CONSULTATION and e.record.outcome == "live_view_opened"]


def test_opening_a_live_view_is_logged_once_per_look_not_per_refresh(city: World) -> None:
    node_id = city.nodes["alpha"].node_id
    accept_snapshot(city.svc, snapshot(city))
    accept_snapshot(city.svc, snapshot(city, camera="gate", when="2026-12-02T10:00:01+00:00"))
    gate = f"/control-room/live/{node_id}/gate.jpg"
    t0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)

    def fetch(at: float, who: str = "operator", path: str = gate) -> None:
        if at < 300:  # within the token's life: no new login
            city.now[0] = t0 + timedelta(seconds=at)
        else:  # logging in again does not end the look
            city.set_time(t0 + timedelta(seconds=at))
        assert city.client.get(path, headers=city.as_(who)).status_code == 200

    city.set_time(t0)
    start = city.svc.audit.size()
    for second in range(0, 300, 3):  # the wall refreshing a tile every 3 s for 5 minutes
        fetch(second)
    operator = city.svc.actor("operator", "site_operator", "city").pseudonym
    assert looks(city, start) == [(operator, {"node": node_id, "camera": "gate"})]
    # a pause longer than live_view_look_seconds (300 s) opens a new look
    mark = city.svc.audit.size()
    fetch(297 + 301)
    assert len(looks(city, mark)) == 1
    # a look left open past live_view_look_max_seconds (3600 s) is logged again, once
    mark = city.svc.audit.size()
    for second in range(598 + 200, 598 + 3601 + 200, 200):
        fetch(second)
    assert len(looks(city, mark)) == 1
    # another operator's look at the same camera is their own
    create_second_operator(city)
    mark = city.svc.audit.size()
    fetch(4500, who="operator2")
    fetch(4503, who="operator2")
    other = city.svc.actor("operator2", "site_operator", "city").pseudonym
    assert looks(city, mark) == [(other, {"node": node_id, "camera": "gate"})]
    # a camera without a picture: 404, nothing logged
    mark = city.svc.audit.size()
    missing = f"/control-room/live/{node_id}/lobby.jpg"
    assert city.client.get(missing, headers=city.as_("operator")).status_code == 404
    assert looks(city, mark) == []


def create_second_operator(world: World) -> None:
    with patch.object(users, "hash_password", people_hash):
        users.create_user(world.svc, NewUser(username="operator2", role=Role.OPERATOR,
                                             agency="city", password=PASSWORD),
                          world.svc.actor("admin", Role.ADMIN.value, "city"))
