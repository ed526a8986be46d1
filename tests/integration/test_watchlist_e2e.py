"""End to end on the production stack: the coordinator on PostgreSQL, Celery through a real
Redis broker and result backend, and two nodes running `safecity node worker` as separate
processes, each with its own queue, keys, sightings and audit log."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from audit.keys import load_log_key
from audit.log import AuditLog
from audit.prove import make_receipt
from audit.records import Action
from contract.tasks import QUERY_TASK
from contract.warrants import SignedWarrant
from coordinator.db import Warrant as WarrantRow
from coordinator.query_messages import build_query, open_result
from tests.support import tally
from tests.support.served import free_port
from tests.support.world import T0, World

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")


@pytest.fixture
def city(tmp_path: Path, postgres_url: str):
    world = World(tmp_path, postgres_url, f"{REDIS}/0", f"{REDIS}/1", query_timeout=60)
    world.add_node("alpha", "site-a")
    world.add_node("beta", "site-b")
    day = T0 - timedelta(days=1)
    world.seed("alpha", [("gate", day, 1, "AB12CDE", b"thumb-1"),
                          ("gate", day + timedelta(minutes=5), 2, "LM55NOP", None),
                          ("lobby", day + timedelta(hours=2), 3, "QR12STU", None)])
    world.seed("beta", [("lobby", day, 7, "XY99 ZZZ", b"thumb-7"),
                         ("gate", T0 - timedelta(days=10), 8, "AB12CDE", None),  # out of window
                         ("gate", day, 9, "ZZ00ZZZ", None)])
    yield world
    world.close()


def node_log(world: World, name: str) -> list:
    settings = world.nodes[name].settings
    log = AuditLog(settings.audit_url, load_log_key(settings.node_key_file))
    try:
        return [e.record for e in log.entries(0, 1000)]
    finally:
        log.close()


def test_police_draft_judge_signs_both_nodes_answer_and_every_step_is_logged(city: World) -> None:
    city.start_worker("alpha")
    city.start_worker("beta")
    warrant = city.registered()
    submitted = city.client.post("/queries", headers=city.as_("police"), json={
        "warrant_id": warrant["warrant_id"], "targets": ["ab12 cde", "XY99ZZZ"]})
    assert submitted.status_code == 202, submitted.text
    query_id = submitted.json()["query_id"]
    result = city.client.get(f"/queries/{query_id}?wait=60", headers=city.as_("police")).json()
    assert result["status"] == "complete", (result, city.worker_log("alpha"))
    assert {n["node_id"].split("-")[0]: n["status"] for n in result["nodes"]} == {
        "alpha": "answered", "beta": "answered"}
    hits = {(h["site_id"], h["target"], h["camera"]) for h in result["hits"]}
    assert hits == {("site-a", "AB12CDE", "gate"), ("site-b", "XY99ZZZ", "lobby")}
    for hit in result["hits"]:  # the minimum: nothing but these fields
        assert set(hit) == {"node_id", "site_id", "sighting_id", "target", "camera", "time",
                            "thumbnail"}
    # The broker's result store holds only answers sealed to the coordinator.
    import redis

    store = redis.Redis.from_url(f"{REDIS}/1")
    for node in result["nodes"]:
        raw = store.get(f"celery-task-meta-{query_id}.{node['node_id']}")
        assert raw and b"safecity-sealed-result/v1" in raw
        assert b"AB12CDE" not in raw and b"XY99ZZZ" not in raw and b"gate" not in raw
    # The DPO supervising sees who answered and how many hits, not the hits.
    supervised = city.client.get(f"/queries/{query_id}", headers=city.as_("dpo")).json()
    assert "hits" not in supervised and sum(n["hits"] for n in supervised["nodes"]) == 2

    coordinator_steps = [e.record.action for e in city.svc.audit.entries(0, 1000)
                         if e.record.warrant_id == warrant["warrant_id"]]
    assert coordinator_steps == [
        Action.WARRANT_DRAFTED, Action.WARRANT_SIGNED, Action.WARRANT_REGISTERED,
        Action.QUERY_DISPATCHED, Action.QUERY_ANSWERED, Action.QUERY_ANSWERED,
        Action.DISCLOSURE]
    city.stop_worker("alpha")
    city.stop_worker("beta")
    for name, count in (("alpha", 1), ("beta", 1)):
        answered = [r for r in node_log(city, name) if r.action is Action.QUERY_ANSWERED]
        assert len(answered) == 1 and answered[0].counts_returned == count
        assert answered[0].warrant_id == warrant["warrant_id"]


def test_a_message_put_straight_on_a_node_queue_is_checked_by_the_worker(city: World) -> None:
    city.start_worker("alpha")
    warrant = city.registered()
    with city.svc.session() as session:
        row = session.get(WarrantRow, warrant["warrant_id"])
        signed = SignedWarrant.model_validate(row.document)
    node = city.nodes["alpha"]
    from nodes.identity import load_identity

    sealing = load_identity(node.settings.keys_dir).public()["sealing_key"]
    index = warrant["registered_index"]
    import base64

    message = build_query(
        city.svc.keys.dispatch, query_id=str(uuid.uuid4()), node_id=node.node_id,
        site="site-a", sealing_key=sealing, kind=signed.warrant.kind, cameras=["gate"],
        window=signed.warrant.window, issued_at=city.clock(), warrant=signed,
        receipt=make_receipt(city.svc.audit, index, city.svc.witnessing.witnessed()).to_json(),
        opening=base64.b64encode(city.svc.audit.opening(index, "warrant_sha256")).decode(),
        targets=["LM55NOP"])  # seen by the node, but not in the warrant
    result = city.straight_to("alpha", message.model_dump(mode="json"), 60,
                              hidden=(b"LM55NOP",))  # the broker sees only the seal
    assert result.status == "refused" and result.reason == "out_of_scope_target"
    assert not result.hits
    city.stop_worker("alpha")
    assert [r.outcome for r in node_log(city, "alpha")
            if r.action is Action.WARRANT_REFUSED] == ["out_of_scope_target"]


def test_a_node_offline_is_reported_unreachable_after_the_timeout(tmp_path: Path,
                                                                  postgres_url: str) -> None:
    world = World(tmp_path, postgres_url, f"{REDIS}/0", f"{REDIS}/1", query_timeout=4)
    try:
        world.add_node("alpha", "site-a")
        world.add_node("beta", "site-b")
        world.start_worker("alpha")  # beta never comes up
        warrant = world.registered()
        query_id = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": warrant["warrant_id"], "targets": ["AB12CDE"]}).json()["query_id"]
        result = world.client.get(f"/queries/{query_id}?wait=30",
                                  headers=world.as_("police")).json()
        states = {n["node_id"].split("-")[0]: (n["status"], n["reason"]) for n in result["nodes"]}
        assert states == {"alpha": ("answered", None), "beta": ("unreachable", "timeout")}
        assert result["status"] == "complete"
    finally:
        world.close()
    tally.add("fault scenarios")


def _redis(port: int, directory: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_a_broker_restart_mid_query_loses_no_query(tmp_path: Path, postgres_url: str) -> None:
    port = free_port()
    (tmp_path / "redis").mkdir()
    broker = _redis(port, tmp_path / "redis")
    world = World(tmp_path, postgres_url, f"redis://127.0.0.1:{port}/0",
                  f"redis://127.0.0.1:{port}/1", query_timeout=120)
    try:
        world.add_node("alpha", "site-a")
        world.seed("alpha", [("gate", T0 - timedelta(days=1), 1, "AB12CDE", None)])
        warrant = world.registered()
        query_id = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": warrant["warrant_id"], "targets": ["AB12CDE"]}).json()["query_id"]
        broker.send_signal(signal.SIGTERM)  # the broker goes away with the query queued
        broker.wait(timeout=20)
        pending = world.client.get(f"/queries/{query_id}", headers=world.as_("police")).json()
        assert pending["status"] == "pending"  # the backend is down: still pending, no error
        broker = _redis(port, tmp_path / "redis")
        world.start_worker("alpha")
        result = world.client.get(f"/queries/{query_id}?wait=60",
                                  headers=world.as_("police")).json()
        assert result["nodes"][0]["status"] == "answered", world.worker_log("alpha")
        assert [h["target"] for h in result["hits"]] == ["AB12CDE"]
    finally:
        world.close()
        broker.terminate()
        broker.wait(timeout=20)
    tally.add("fault scenarios")


def test_a_worker_killed_mid_search_is_redelivered_and_searches_once_more(
        tmp_path: Path, postgres_url: str, model_dir: Path) -> None:
    import sqlite3

    from nodes.node import run_node
    from tests.integration.test_face_watchlist import (
        SCENE,
        face_warrant,
        reference,
        scene_identities,
    )

    world = World(tmp_path, postgres_url, f"{REDIS}/0", f"{REDIS}/1", query_timeout=300)
    try:
        node = world.add_node("alpha", "site-a", {"gate": f"synthetic:{SCENE}"},
                              extra="redelivery_seconds = 2\n")
        run_node(node.settings.model_copy(update={"model_dir": model_dir}))
        world.start_worker("alpha")
        present = sorted(scene_identities())[0]
        warrant = face_warrant(world, [present])
        query_id = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": warrant["warrant_id"], "targets": [present], "cameras": ["gate"],
            "references": {present: reference(present)}}).json()["query_id"]
        ledger = node.settings.stores.query_ledger
        deadline = time.monotonic() + 120
        while True:  # the use is counted and the search under way, the answer not yet stored
            assert time.monotonic() < deadline, world.worker_log("alpha")
            try:
                with sqlite3.connect(ledger) as db:
                    row = db.execute("SELECT answer FROM answers WHERE query_id=?",
                                     (query_id,)).fetchone()
            except sqlite3.OperationalError:  # the worker is still creating its ledger
                row = None
            if row is not None:
                assert row[0] is None, "the search finished before the kill"
                break
            time.sleep(0.05)
        world.stop_worker("alpha", signal.SIGKILL)
        world.start_worker("alpha")
        result = world.client.get(f"/queries/{query_id}?wait=60", headers=world.as_("police"))
        while result.json()["status"] != "complete":
            result = world.client.get(f"/queries/{query_id}?wait=60",
                                      headers=world.as_("police"))
        body = result.json()
        assert body["nodes"][0]["status"] == "answered", (body, world.worker_log("alpha"))
        assert {h["target"] for h in body["hits"]} == {present}
        world.stop_worker("alpha")
        with sqlite3.connect(ledger) as db:
            assert db.execute("SELECT count FROM uses").fetchall() == [(1,)]  # counted once
        actions = [r.action for r in node_log(world, "alpha")
                   if r.warrant_id == warrant["warrant_id"]]
        # the search ran again in full (logged again if the kill came after its first log)
        assert actions[-1] is Action.QUERY_ANSWERED and Action.QUERY_ANSWERED not in actions[:-1]
        assert set(actions[:-1]) == {Action.CONSULTATION}
    finally:
        world.close()
    tally.add("fault scenarios")


def through_queue(city: World, message: dict, task=QUERY_TASK):  # type: ignore[no-untyped-def]
    """Put a message straight on alpha's queue, as a coordinator skipping its checks would."""
    node = city.nodes["alpha"]
    task_id = f"rogue-{uuid.uuid4()}"
    city.svc.dispatcher.send(task, message, node.node_id, task_id)
    deadline = time.monotonic() + 60
    while (answer := city.svc.dispatcher.answer(task_id)) is None:
        assert time.monotonic() < deadline, city.worker_log("alpha")
        time.sleep(0.1)
    if task != QUERY_TASK:
        return answer
    query_id = message["request"]["query_id"]
    return open_result(answer, city.svc.keys.sealing, query_id, node.node_id).result


def test_every_refusal_through_the_node_queue(city: World) -> None:
    from contract.queries import Revocation, SignedRevocation
    from contract.tasks import REVOCATION_TASK
    from contract.warrants import Window, key_id, sign
    from privacy.signing import SigningKey
    from tests.unit.test_node_refusals import rogue, stored

    city.start_worker("alpha")
    now = city.clock()
    good = city.registered(max_uses=1)
    signed, index = stored(city, good["warrant_id"])
    draft, _ = stored(city, city.draft()["warrant_id"])
    judged = draft.model_copy(update={"judge": sign(draft.warrant, city.judge_key)})
    forged = draft.model_copy(update={"judge": sign(draft.warrant, SigningKey.generate())})
    past = city.registered(not_before=(now - timedelta(days=3)).isoformat(),
                           expires_at=(now - timedelta(days=1)).isoformat())
    future = city.registered(not_before=(now + timedelta(days=1)).isoformat(),
                             expires_at=(now + timedelta(days=2)).isoformat())
    revoked = city.registered()
    later = Window(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    cases = [
        (rogue(city, draft, index), "unsigned"),
        (rogue(city, forged, index), "unknown_signer"),
        (rogue(city, *stored(city, past["warrant_id"])), "expired"),
        (rogue(city, *stored(city, future["warrant_id"])), "not_yet_valid"),
        (rogue(city, signed, index, cameras=("gate", "vault-door")), "out_of_scope_camera"),
        (rogue(city, signed, index, window=later), "out_of_scope_time"),
        (rogue(city, signed, index, targets=("LM55NOP",)), "out_of_scope_target"),
        (rogue(city, signed, index, issued_at=now - timedelta(hours=2)), "replayed"),
        (rogue(city, judged, index), "not_in_log"),
    ]
    for message, reason in cases:
        result = through_queue(city, message)
        assert (result.status, result.reason) == ("refused", reason), result
    first = through_queue(city, rogue(city, signed, index))
    assert first.status == "answered"
    assert through_queue(city, rogue(city, signed, index)).reason == "used_up"

    body = Revocation(warrant_id=revoked["warrant_id"], revoked_at=now, reason="case-closed")
    revocation = SignedRevocation(revocation=body, key_id=key_id(city.judge_key.public),
                                  signature=body.sign(city.judge_key))
    assert through_queue(city, revocation.model_dump(mode="json"), REVOCATION_TASK)["recorded"]
    result = through_queue(city, rogue(city, *stored(city, revoked["warrant_id"])))
    assert result.reason == "revoked"
    city.stop_worker("alpha")
    refusals = [r.outcome for r in node_log(city, "alpha") if r.action is Action.WARRANT_REFUSED]
    assert sorted(refusals) == sorted([reason for _, reason in cases] + ["used_up", "revoked"])
