"""Changing whom the nodes trust: a judge appointed after the sites enrolled reaches them only
through an update signed by the authorities they already pin, logged, applied by each node and
acknowledged; until a node has acknowledged a key, the coordinator neither registers nor sends
a warrant signed with it; a node's refusal never spends one of the warrant's uses.

The update path runs on the production stack (PostgreSQL, Redis, `safecity node worker`
processes); the node's own checks are also driven in process, as a compromised coordinator
holding the broker would drive them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from test_node_refusals import answer, rogue, stored
from world import T0, World, embedded_world

from audit.keys import load_log_key
from audit.log import AuditLog
from audit.records import Action
from contract.pins import PinAck, PinChange, PinSignature, PinUpdate, SignedPinAck, pinned_sha256
from contract.warrants import key_id, sign
from coordinator.db import PinAckRow
from coordinator.db import Warrant as WarrantRow
from coordinator.roles import Role
from coordinator.services.requests import NewUser
from coordinator.services.users import create_user
from nodes.enrolment import enrolment_file, load_enrolment
from privacy.signing import SigningKey

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")
PASSWORD = "correct horse battery staple"


def appoint(world: World, username: str, role: Role = Role.JUDGE) -> SigningKey:
    """A judge (or DPO) registered at the coordinator, after the nodes enrolled."""
    key = SigningKey.generate()
    create_user(world.svc, NewUser(username=username, role=role, agency="court",
                                   password=PASSWORD, signing_key=key.public.text()), "admin")
    return key


def propose(world: World, changes: list[dict[str, Any]], reason: str) -> dict[str, Any]:
    response = world.client.post("/pins", headers=world.as_("admin"),
                                 json={"changes": changes, "reason": reason})
    assert response.status_code == 201, response.text
    return response.json()


def sign_update(world: World, update: dict[str, Any], username: str, key: SigningKey) -> Any:
    signature = base64.b64encode(key.sign(base64.b64decode(update["payload"]))).decode()
    return world.client.post(f"/pins/{update['sequence']}/signatures",
                             headers=world.as_(username), json={"signature": signature})


def dispatch(world: World, sequence: int) -> Any:
    return world.client.post(f"/pins/{sequence}/dispatch", headers=world.as_("admin"))


def node_state(world: World, sequence: int, name: str) -> dict[str, Any]:
    update = world.client.get(f"/pins/{sequence}", headers=world.as_("admin")).json()
    return next(n for n in update["nodes"] if n["node_id"] == world.nodes[name].node_id)


def wait_applied(world: World, sequence: int, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (state := node_state(world, sequence, name))["status"] == "pending":
        assert time.monotonic() < deadline, world.worker_log(name)
        time.sleep(0.3)
    assert state["status"] == "applied", state
    return state


def judge_signs(world: World, warrant: dict[str, Any], username: str, key: SigningKey) -> Any:
    payload = base64.b64decode(warrant["payload"])
    return world.client.post(f"/warrants/{warrant['warrant_id']}/signatures",
                             headers=world.as_(username),
                             json={"role": "judge",
                                   "signature": base64.b64encode(key.sign(payload)).decode()})


def node_log(world: World, name: str) -> list:
    settings = world.nodes[name].settings
    log = AuditLog(settings.audit_url, load_log_key(settings.node_key_file))
    try:
        return [e.record for e in log.entries(0, 1000)]
    finally:
        log.close()


def uses(world: World, warrant_id: str) -> int:
    with world.svc.session() as session:
        return session.get(WarrantRow, warrant_id).uses


@pytest.fixture
def city(tmp_path: Path, postgres_url: str):
    world = World(tmp_path, postgres_url, f"{REDIS}/0", f"{REDIS}/1", query_timeout=60)
    world.add_node("alpha", "site-a")
    world.add_node("beta", "site-b")
    for name in ("alpha", "beta"):
        world.seed(name, [("gate", T0 - timedelta(days=1), 1, "AB12CDE", None)])
    yield world
    world.close()


def test_a_judge_appointed_after_enrolment_is_pinned_by_a_signed_update(city: World) -> None:
    alpha, beta = city.nodes["alpha"].node_id, city.nodes["beta"].node_id
    new_judge = appoint(city, "judge-2")
    warrant = city.draft()

    # The sites would refuse this judge's signature: the coordinator refuses it first.
    refused = judge_signs(city, warrant, "judge-2", new_judge)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "unknown_signer"
    assert alpha in refused.json()["detail"] and beta in refused.json()["detail"]
    assert city.client.get(f"/warrants/{warrant['warrant_id']}",
                           headers=city.as_("police")).json()["document"]["judge"] is None

    update = propose(city, [{"role": "judge", "add": [new_judge.public.text()]}],
                     "judge-appointed")
    assert update["sequence"] == 1 and update["status"] == "proposed"
    # Only the authorities already pinned sign it, and one of them is not enough.
    assert sign_update(city, update, "judge-2", new_judge).json()["code"] == "unknown_signer"
    assert sign_update(city, update, "judge", city.judge_key).status_code == 200
    assert dispatch(city, 1).json()["code"] == "quorum"
    assert sign_update(city, update, "dpo", city.dpo_key).status_code == 200
    start = city.svc.audit.size()
    sent = dispatch(city, 1)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "dispatched"
    logged = city.svc.audit.entry(sent.json()["logged_index"]).record
    assert logged.action is Action.CONFIG_CHANGE and logged.outcome == "pins_dispatched"
    assert sent.json()["logged_index"] >= start  # logged before it went to the queues

    # alpha takes it from its queue; beta's worker is not running yet.
    city.start_worker("alpha")
    wait_applied(city, 1, "alpha")
    assert node_state(city, 1, "beta")["status"] == "pending"
    refused = judge_signs(city, warrant, "judge-2", new_judge)
    assert refused.status_code == 409 and beta in refused.json()["detail"]
    assert alpha not in refused.json()["detail"]

    city.start_worker("beta")
    state = wait_applied(city, 1, "beta")
    assert state["sequence"] == 1 and state["pinned_sha256"] == update["pinned_sha256"]
    registered = judge_signs(city, warrant, "judge-2", new_judge)
    assert registered.status_code == 200, registered.text
    assert registered.json()["status"] == "registered"

    submitted = city.client.post("/queries", headers=city.as_("police"), json={
        "warrant_id": warrant["warrant_id"], "targets": ["AB12CDE"]})
    assert submitted.status_code == 202, submitted.text
    result = city.client.get(f"/queries/{submitted.json()['query_id']}?wait=60",
                             headers=city.as_("police")).json()
    assert [n["status"] for n in result["nodes"]] == ["answered", "answered"], result
    assert len(result["hits"]) == 2
    city.stop_worker("alpha")
    city.stop_worker("beta")
    for name in ("alpha", "beta"):
        pinned = load_enrolment(city.nodes[name].settings.data_dir)
        assert new_judge.public.text() in pinned.judge_keys and pinned.pins_sequence == 1
        assert [r.outcome for r in node_log(city, name)
                if r.action is Action.CONFIG_CHANGE] == ["pins_updated"]
    # A node enrolled now is handed the updated set.
    city.add_node("gamma", "site-c")
    assert new_judge.public.text() in load_enrolment(
        city.nodes["gamma"].settings.data_dir).judge_keys


def test_retiring_a_judge_refuses_their_new_warrants_and_a_refusal_spends_no_use(
        city: World) -> None:
    alpha = city.nodes["alpha"].node_id
    successor = appoint(city, "judge-2")
    city.start_worker("alpha")
    city.start_worker("beta")
    added = propose(city, [{"role": "judge", "add": [successor.public.text()]}], "appointed")
    for username, key in (("judge", city.judge_key), ("dpo", city.dpo_key)):
        assert sign_update(city, added, username, key).status_code == 200
    assert dispatch(city, 1).status_code == 200
    wait_applied(city, 1, "alpha")
    wait_applied(city, 1, "beta")
    before = city.registered(max_uses=2, sites=["site-a"])  # by the judge about to retire

    retired = propose(city, [{"role": "judge", "retire": [city.judge_key.public.text()]}],
                      "judge-retired")
    for username, key in (("judge-2", successor), ("dpo", city.dpo_key)):
        assert sign_update(city, retired, username, key).status_code == 200
    city.stop_worker("alpha")  # alpha will find the retirement ahead of the next query
    assert dispatch(city, 2).status_code == 200

    # Until alpha acknowledges, the coordinator holds that it pins the old judge: the query is
    # sent, alpha applies the update first, refuses the query, and the use is given back.
    submitted = city.client.post("/queries", headers=city.as_("police"), json={
        "warrant_id": before["warrant_id"], "targets": ["AB12CDE"]})
    assert submitted.status_code == 202, submitted.text
    assert uses(city, before["warrant_id"]) == 1
    city.start_worker("alpha")
    result = city.client.get(f"/queries/{submitted.json()['query_id']}?wait=60",
                             headers=city.as_("police")).json()
    assert [(n["status"], n["reason"]) for n in result["nodes"]] == [
        ("refused", "unknown_signer")], result
    assert uses(city, before["warrant_id"]) == 0
    wait_applied(city, 2, "alpha")
    wait_applied(city, 2, "beta")

    # Now the coordinator knows: it neither sends the old judge's warrant nor registers a new
    # one, and names the nodes; nothing is spent.
    again = city.client.post("/queries", headers=city.as_("police"), json={
        "warrant_id": before["warrant_id"], "targets": ["AB12CDE"]})
    assert again.status_code == 409 and alpha in again.json()["detail"], again.text
    assert uses(city, before["warrant_id"]) == 0
    fresh = city.draft()
    refused = judge_signs(city, fresh, "judge", city.judge_key)
    assert refused.status_code == 409 and alpha in refused.json()["detail"]
    assert judge_signs(city, fresh, "judge-2", successor).json()["status"] == "registered"
    city.stop_worker("alpha")
    assert city.judge_key.public.text() not in load_enrolment(
        city.nodes["alpha"].settings.data_dir).judge_keys


# -- the node's own checks, driven in process ------------------------------------------------

@pytest.fixture
def world(tmp_path):
    w = embedded_world(tmp_path)
    w.add_node("alpha", "site-a")
    w.service("alpha").sightings.add("gate", T0 - timedelta(days=1), 1, "AB12CDE", None)
    yield w
    w.close()


def update_for(world: World, sequence: int = 1, previous: str | None = None,
               **changes: Any) -> PinUpdate:
    enrolment = world.service("alpha").enrolment
    change = PinChange(**({"role": "judge"} | changes))
    return PinUpdate(sequence=sequence,
                     previous_sha256=previous or pinned_sha256(enrolment.pinned()),
                     changes=(change,), reason="judge-appointed", issued_at=world.clock())


def signed_by(update: PinUpdate, *keys: SigningKey) -> dict[str, Any]:
    return {"update": update.model_dump(mode="json"),
            "signatures": [PinSignature(key_id=key_id(k.public), signature=update.sign(k))
                           .model_dump(mode="json") for k in keys]}


def acknowledged(world: World, message: Any) -> PinAck:
    signed = SignedPinAck.model_validate(world.service("alpha").pin_updates.answer(message))
    assert signed.ack.signed_by(world.service("alpha").identity.signing.public,
                                signed.signature)
    return signed.ack


def test_an_update_the_pinned_quorum_did_not_sign_changes_nothing(world: World) -> None:
    path = enrolment_file(world.nodes["alpha"].settings.data_dir)
    original = path.read_bytes()
    newcomer, stranger = SigningKey.generate(), SigningKey.generate()
    adds = update_for(world, add=(newcomer.public.text(),))
    cases = {
        "quorum": signed_by(adds, world.judge_key),  # one pinned authority of two
        "unknown_signer": signed_by(adds, world.judge_key, stranger),
        "wrong_base": signed_by(update_for(world, previous="0" * 64,
                                           add=(newcomer.public.text(),)),
                                world.judge_key, world.dpo_key),
        "out_of_order": signed_by(update_for(world, sequence=2, add=(newcomer.public.text(),)),
                                  world.judge_key, world.dpo_key),
        "unusable": signed_by(update_for(world, role="dpo",
                                         retire=(world.dpo_key.public.text(),)),
                              world.judge_key, world.dpo_key),  # would leave no DPO
        "bad_message": {"update": {"sequence": 1}, "signatures": []},
    }
    for reason, message in cases.items():
        ack = acknowledged(world, message)
        assert (ack.applied, ack.reason, ack.sequence) == (False, reason, 0), (reason, ack)
        assert path.read_bytes() == original, reason
    # The newcomer cannot sign warrants the node accepts.
    assert world.service("alpha").enrolment.judge_keys == (world.judge_key.public.text(),)

    valid = signed_by(adds, world.judge_key, world.dpo_key)
    ack = acknowledged(world, valid)
    assert ack.applied and ack.sequence == 1
    assert ack.pinned_sha256 == pinned_sha256(load_enrolment(path.parent).pinned())
    applied_bytes = path.read_bytes()
    # Delivered again, or an older update replayed to roll it back: refused, nothing changes.
    rollback = signed_by(update_for(world, previous=adds.previous_sha256,
                                    retire=(world.judge_key.public.text(),)),
                         world.judge_key, world.dpo_key)
    for message in (valid, rollback):
        ack = acknowledged(world, message)
        assert (ack.applied, ack.reason, ack.sequence) == (False, "replayed", 1)
        assert path.read_bytes() == applied_bytes
    outcomes = [e.record.outcome for e in world.service("alpha").audit.entries(0, 1000)
                if e.record.action is Action.CONFIG_CHANGE]
    assert outcomes == ["pins_refused"] * 6 + ["pins_updated"] + ["pins_refused"] * 2


def test_the_node_answers_a_newly_pinned_judge_and_refuses_a_retired_one(world: World) -> None:
    newcomer = appoint(world, "judge-2")
    warrant = world.draft()
    signed, _ = stored(world, warrant["warrant_id"])
    by_newcomer = signed.model_copy(update={"judge": sign(signed.warrant, newcomer)})
    receipt = world.registered()["registered_index"]  # any receipt: the signer fails first
    assert answer(world, rogue(world, by_newcomer, receipt)).result.reason == "unknown_signer"
    adds = update_for(world, add=(newcomer.public.text(),))
    assert acknowledged(world, signed_by(adds, world.judge_key, world.dpo_key)).applied
    old = world.registered()
    old_signed, old_index = stored(world, old["warrant_id"])
    assert answer(world, rogue(world, old_signed, old_index)).result.status == "answered"
    retire = update_for(world, sequence=2, retire=(world.judge_key.public.text(),))
    assert acknowledged(world, signed_by(retire, newcomer, world.dpo_key)).applied
    result = answer(world, rogue(world, old_signed, old_index)).result
    assert (result.status, result.reason) == ("refused", "unknown_signer")


def test_a_refusal_after_the_use_was_counted_gives_it_back(world: World) -> None:
    warrant = world.registered(kind="evidence_export", max_uses=1, targets=["ref-1"])
    signed, index = stored(world, warrant["warrant_id"])
    for _ in range(2):  # a watchlist node refuses an export: nothing searched, nothing spent
        result = answer(world, rogue(world, signed, index, targets=("ref-1",))).result
        assert (result.status, result.reason) == ("refused", "wrong_kind")
    assert world.service("alpha").ledger.uses(warrant["warrant_id"]) == 0


def test_the_admin_proposes_and_a_judge_signs_on_the_command_line(world: World) -> None:
    safecity = [sys.executable, "-c", "from nodes.cli import main; main()"]
    config = world.root / "coordinator-cli.toml"
    config.write_text(f'data_dir = "{world.settings.data_dir}"\n'
                      f'database_url = "{world.db_url}"\nbroker_url = "{world.broker}"\n'
                      f'result_backend = "{world.backend}"\n')

    desk = world.root / "desk"  # not the world's root: its coordinator/ folder would shadow
    desk.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*safecity, *args], capture_output=True, text=True,
                              cwd=desk, timeout=120, check=False)

    bad = run("coordinator", "pins", "propose", "--config", str(config),
              "--add", "bishop:ed25519:AAAA", "--reason", "appointed")
    assert bad.returncode != 0 and "ROLE:KEY" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    newcomer = SigningKey.generate()
    proposed = run("coordinator", "pins", "propose", "--config", str(config),
                   "--add", f"judge:{newcomer.public.text()}", "--reason", "judge-appointed")
    assert proposed.returncode == 0, proposed.stderr
    update = json.loads(proposed.stdout)
    assert update["sequence"] == 1 and update["status"] == "proposed"

    (desk / "update.json").write_text(json.dumps(update))
    world.judge_key.save(desk / "judge.key")
    signed = run("warrant", "sign-pins", "update.json", "--key", "judge.key",
                 "--out", "sig.json")
    assert signed.returncode == 0, signed.stderr
    assert f"adds judge key {newcomer.public.text()}" in signed.stdout
    body = json.loads((desk / "sig.json").read_text())
    accepted = world.client.post("/pins/1/signatures", headers=world.as_("judge"), json=body)
    assert accepted.status_code == 200, accepted.text
    early = run("coordinator", "pins", "dispatch", "1", "--config", str(config))
    assert early.returncode != 0 and "quorum" in early.stderr  # the DPO has not signed
    assert world.client.get("/pins/1", headers=world.as_("dpo")).json()["status"] == "proposed"


def test_a_query_is_not_sent_to_a_node_whose_pins_the_coordinator_does_not_know(
        world: World) -> None:
    warrant = world.registered()
    with world.svc.session() as session:  # a node enrolled before acknowledgements were kept
        session.execute(delete(PinAckRow))
    submitted = world.client.post("/queries", headers=world.as_("police"), json={
        "warrant_id": warrant["warrant_id"], "targets": ["AB12CDE"]})
    assert submitted.status_code == 409, submitted.text
    assert world.nodes["alpha"].node_id in submitted.json()["detail"]
    assert uses(world, warrant["warrant_id"]) == 0
    refusal = world.svc.audit.entry(world.svc.audit.size() - 1).record
    assert refusal.action is Action.WARRANT_REFUSED and refusal.outcome == "unknown_signer"
