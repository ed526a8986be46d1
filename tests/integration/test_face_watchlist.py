"""A face watchlist search under a judge's warrant countersigned by the DPO: the reference is
sealed to the node, matched only on the node's encrypted recordings of the warrant's cameras and
window, and a match counts only after two different people confirm it."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from datetime import timedelta

import cv2
import numpy as np
import pytest

from audit.keys import load_log_key
from audit.log import AuditLog
from audit.records import Action
from contract.reference_image import canonical_png, check_plain_png
from contract.warrants import SignedWarrant, commit_reference
from coordinator.db import Warrant as WarrantRow
from nodes.node import run_node
from simulation.synthetic import Scene, SceneSpec, face_crops
from tests.support.world import World, embedded_world
from tests.unit.test_node_refusals import rogue, stored

SCENE = "seed=3,seconds=3,width=640,height=360,people=2,vehicles=0"


def reference(identity: str) -> str:
    crop = face_crops()[int(identity.removeprefix("lfw-"))]
    ok, data = cv2.imencode(".png", cv2.resize(crop, (100, 100), interpolation=cv2.INTER_CUBIC))
    assert ok
    return base64.b64encode(data.tobytes()).decode()


@pytest.fixture(scope="module")
def city(tmp_path_factory, model_dir):
    world = embedded_world(tmp_path_factory.mktemp("faces"), query_timeout=240)
    node = world.add_node("alpha", "site-a", {"gate": f"synthetic:{SCENE}",
                                              "lobby": "synthetic:seed=5,seconds=1,people=0"})
    reports = run_node(node.settings.model_copy(update={"model_dir": model_dir}))
    assert all(r.status == "ok" and r.segments_recorded for r in reports), reports
    world.start_worker("alpha")
    yield world
    world.close()


def scene_identities() -> set[str]:
    spec = SceneSpec(**{k: (float(v) if k == "seconds" else int(v))
                        for k, v in (item.split("=") for item in SCENE.split(","))})
    return {gt.label for _, truth in Scene(spec).frames() for gt in truth if gt.kind == "face"}


def face_warrant(world: World, targets: list[str]) -> dict:
    """Signed by the judge and the DPO, committing to each target's own reference photo."""
    now = world.clock()
    warrant = world.draft(kind="face_watchlist", purpose_code="missing-person", targets=targets,
                          references={t: reference(t) for t in targets},
                          sites=["site-a"], cameras=["gate"],
                          window={"start": (now - timedelta(hours=1)).isoformat(),
                                  "end": (now + timedelta(hours=1)).isoformat()},
                          not_before=(now - timedelta(hours=1)).isoformat())
    assert world.sign(warrant).json()["status"] == "draft"  # the DPO must countersign
    registered = world.sign(warrant, "dpo").json()
    assert registered["status"] == "registered"
    return registered


def test_a_face_search_finds_the_person_and_two_people_must_confirm(city: World) -> None:
    present = sorted(scene_identities())[0]
    absent = next(f"lfw-{i}" for i in range(100) if f"lfw-{i}" not in scene_identities())
    warrant = face_warrant(city, [present, absent])
    submitted = city.client.post("/queries", headers=city.as_("police"), json={
        "warrant_id": warrant["warrant_id"], "targets": [present, absent],
        "cameras": ["gate"], "references": {present: reference(present),
                                            absent: reference(absent)}})
    assert submitted.status_code == 202, submitted.text
    query_id = submitted.json()["query_id"]
    result = city.client.get(f"/queries/{query_id}?wait=60", headers=city.as_("police")).json()
    while result["status"] != "complete":
        result = city.client.get(f"/queries/{query_id}?wait=60",
                                 headers=city.as_("police")).json()
    assert result["nodes"][0]["status"] == "answered", (result, city.worker_log("alpha"))
    assert {h["target"] for h in result["hits"]} == {present}
    hit = result["hits"][0]
    assert hit["camera"] == "gate" and hit["confirmation"]["status"] == "unconfirmed"
    assert base64.b64decode(hit["thumbnail"])[:2] == b"\xff\xd8"
    assert result["confirmed_hits"] == 0

    path = f"/queries/{query_id}/hits/{hit['node_id']}/{hit['sighting_id']}/confirmations"
    first = city.client.post(path, headers=city.as_("police"), json={"decision": "match"})
    assert first.status_code == 201 and first.json()["status"] == "unconfirmed"
    again = city.client.post(path, headers=city.as_("police"), json={"decision": "match"})
    assert again.status_code == 409 and again.json()["code"] == "already_decided"
    denied = city.client.post(path, headers=city.as_("judge"), json={"decision": "match"})
    assert denied.status_code == 403
    second = city.client.post(path, headers=city.as_("dpo"), json={"decision": "match"})
    assert second.json()["status"] == "confirmed"
    supervised = city.client.get(f"/queries/{query_id}", headers=city.as_("dpo")).json()
    assert supervised["confirmed_hits"] == 1
    confirmations = [e.record for e in city.svc.audit.entries(0, 10_000)
                     if e.record.action is Action.MATCH_CONFIRMED]
    assert [c.outcome for c in confirmations] == ["match", "match"]
    assert confirmations[0].second_approver is None
    assert confirmations[1].second_approver == confirmations[0].actor

    settings = city.nodes["alpha"].settings
    log = AuditLog(settings.audit_url, load_log_key(settings.node_key_file))
    try:
        actions = [e.record.action for e in log.entries(0, 10_000)
                   if e.record.warrant_id == warrant["warrant_id"]]
    finally:
        log.close()
    assert actions == [Action.CONSULTATION, Action.QUERY_ANSWERED]  # logged before decrypting


def test_face_queries_need_a_readable_reference_for_each_target(city: World) -> None:
    warrant = face_warrant(city, ["lfw-1"])
    base = {"warrant_id": warrant["warrant_id"], "targets": ["lfw-1"], "cameras": ["gate"]}
    for references, code in (
            (None, "missing_reference"),
            ({"lfw-1": base64.b64encode(b"GIF89a not really").decode()}, "invalid_image"),
            ({"lfw-1": "***"}, "invalid_image"),
            ({"lfw-1": reference("lfw-1"), "lfw-2": reference("lfw-2")}, "missing_reference")):
        response = city.client.post("/queries", headers=city.as_("police"),
                                    json=base | {"references": references})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == code


def test_another_persons_photo_under_the_authorised_id_is_refused(city: World) -> None:
    """Issue 20, finding 2: the judge and the DPO signed for one person's photo; an analyst with
    a valid login sends someone else's (who is in the recordings) under the same target id. The
    coordinator refuses it, and so does the node's worker process when a coordinator that skips
    its checks signs and queues the message anyway: nothing is decrypted, nothing is found."""
    present = sorted(scene_identities())[0]
    authorised = next(f"lfw-{i}" for i in range(100) if f"lfw-{i}" not in scene_identities())
    warrant = face_warrant(city, [authorised])
    swapped = {authorised: reference(present)}
    submitted = city.client.post("/queries", headers=city.as_("police"), json={
        "warrant_id": warrant["warrant_id"], "targets": [authorised], "cameras": ["gate"],
        "references": swapped})
    assert submitted.status_code == 403, submitted.text
    assert submitted.json()["code"] == "target_not_in_warrant"
    refused = city.svc.audit.entry(city.svc.audit.size() - 1).record
    assert (refused.action, refused.outcome) == (Action.WARRANT_REFUSED, "target_not_in_warrant")

    signed, index = stored(city, warrant["warrant_id"])
    plain = canonical_png(base64.b64decode(swapped[authorised]))  # the form a node accepts
    message = rogue(city, signed, index, targets=(authorised,), cameras=("gate",),
                    references={authorised: base64.b64encode(plain).decode()})
    node = city.nodes["alpha"]
    result = city.straight_to("alpha", message)
    assert (result.status, result.reason) == ("refused", "target_not_in_warrant"), result
    assert not result.hits

    settings = node.settings
    log = AuditLog(settings.audit_url, load_log_key(settings.node_key_file))
    try:
        steps = [(e.record.action, e.record.outcome) for e in log.entries(0, 10_000)
                 if e.record.warrant_id == warrant["warrant_id"]]
    finally:
        log.close()
    assert steps == [(Action.WARRANT_REFUSED, "target_not_in_warrant")]  # nothing decrypted


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def apng(shown_by_browsers: np.ndarray, decoded_by_opencv: np.ndarray) -> bytes:
    """The red team's polyglot: an animated PNG whose default image (IDAT, outside the animation,
    what OpenCV decodes) is one person and whose only animation frame (fdAT, what browsers show)
    is another."""
    height, width = shown_by_browsers.shape[:2]

    def rows(image: np.ndarray) -> bytes:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        return zlib.compress(b"".join(b"\0" + rgb[y].tobytes() for y in range(height)), 9)

    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"acTL", struct.pack(">II", 1, 0))
            + _chunk(b"IDAT", rows(decoded_by_opencv))
            + _chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, width, height, 0, 0, 1, 1, 0, 0))
            + _chunk(b"fdAT", struct.pack(">I", 1) + rows(shown_by_browsers))
            + _chunk(b"IEND", b""))


def face(identity: str) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(reference(identity)), np.uint8),
                        cv2.IMREAD_COLOR)


def test_an_animated_png_cannot_show_the_signers_one_face_and_search_another(
        city: World) -> None:
    """Red team B1: one APNG shows browsers (the judge's page) person A and OpenCV (the search)
    person B, so a commitment to the file's SHA-256 bound bytes, not the face signed for. The
    coordinator keeps, shows and commits to the plain PNG of what OpenCV decodes (B, the face
    that would be searched); a node refuses any reference that is not a plain PNG, even under a
    warrant a coordinator let commit to the polyglot itself, before it decrypts anything."""
    present = sorted(scene_identities())[0]
    authorised = next(f"lfw-{i}" for i in range(100) if f"lfw-{i}" not in scene_identities())
    polyglot = apng(shown_by_browsers=face(authorised), decoded_by_opencv=face(present))
    now = city.clock()
    drafted = city.draft(kind="face_watchlist", purpose_code="missing-person",
                         targets=[authorised],
                         references={authorised: base64.b64encode(polyglot).decode()},
                         sites=["site-a"], cameras=["gate"],
                         window={"start": (now - timedelta(hours=1)).isoformat(),
                                 "end": (now + timedelta(hours=1)).isoformat()},
                         not_before=(now - timedelta(hours=1)).isoformat())
    held = city.client.get(f"/warrants/{drafted['warrant_id']}", headers=city.as_("judge")
                           ).json()["for_signers"]["references"][authorised]
    shown = base64.b64decode(held)
    assert check_plain_png(shown) == (100, 100)  # no animation left for a browser to play
    pixels = cv2.imdecode(np.frombuffer(shown, np.uint8), cv2.IMREAD_COLOR)
    assert (pixels == face(present)).all()  # the signers see the face a search would use
    warrant = SignedWarrant.model_validate(drafted["document"]).warrant
    salt = base64.b64decode(warrant.target_salt)
    assert warrant.references == (commit_reference(
        salt, authorised, hashlib.sha256(shown).hexdigest()),)
    assert commit_reference(salt, authorised, hashlib.sha256(polyglot).hexdigest()) \
        not in warrant.references

    # a coordinator that commits to the polyglot's own bytes, signed and registered as usual
    with city.svc.session() as session:
        row = session.get(WarrantRow, drafted["warrant_id"])
        document = json.loads(json.dumps(row.document))
        document["warrant"]["references"] = [commit_reference(
            salt, authorised, hashlib.sha256(polyglot).hexdigest())]
        row.document = document
    rewritten = city.client.get(f"/warrants/{drafted['warrant_id']}", headers=city.as_("judge")
                                ).json()
    assert city.sign(rewritten).json()["status"] == "draft"
    assert city.sign(rewritten, "dpo").json()["status"] == "registered"
    signed, index = stored(city, drafted["warrant_id"])
    message = rogue(city, signed, index, targets=(authorised,), cameras=("gate",),
                    references={authorised: base64.b64encode(polyglot).decode()})
    node = city.nodes["alpha"]
    result = city.straight_to("alpha", message)
    assert (result.status, result.reason) == ("refused", "bad_reference"), result
    assert not result.hits
    log = AuditLog(node.settings.audit_url, load_log_key(node.settings.node_key_file))
    try:
        steps = [(e.record.action, e.record.outcome) for e in log.entries(0, 10_000)
                 if e.record.warrant_id == drafted["warrant_id"]]
    finally:
        log.close()
    assert steps == [(Action.WARRANT_REFUSED, "bad_reference")]  # nothing decrypted
