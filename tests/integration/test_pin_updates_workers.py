"""Pin updates reaching node worker processes over PostgreSQL and Redis, and the pin command
line."""

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

from audit.keys import load_log_key
from audit.log import AuditLog
from audit.records import Action
from nodes.enrolment import load_enrolment
from privacy.signing import SigningKey
from tests.support.world import T0, World
from tests.unit import test_pin_updates
from tests.unit.test_pin_updates import appoint, uses

world = test_pin_updates.world  # the in-process tests' fixture, an instance of its own here

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")


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


@pytest.fixture
def city(tmp_path: Path, postgres_url: str):
    # Redis databases of its own: other modules use theirs on parallel test workers
    world = World(tmp_path, postgres_url, f"{REDIS}/2", f"{REDIS}/3", query_timeout=60)
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

    bad = run("coordinator", "pins", "propose", "--config", str(config), "--as", "admin",
              "--add", "bishop:ed25519:AAAA", "--reason", "appointed")
    assert bad.returncode != 0 and "ROLE:KEY" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    newcomer = SigningKey.generate()
    proposed = run("coordinator", "pins", "propose", "--config", str(config), "--as", "admin",
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
    early = run("coordinator", "pins", "dispatch", "1", "--config", str(config), "--as", "admin")
    assert early.returncode != 0 and "quorum" in early.stderr  # the DPO has not signed
    assert world.client.get("/pins/1", headers=world.as_("dpo")).json()["status"] == "proposed"
