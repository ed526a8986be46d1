"""The coordinator's API on its embedded defaults: people, roles, warrants, consents, and the
refusals it makes itself (each one audited) before anything reaches a node."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from audit.records import Action
from contract.queries import Revocation, SignedRevocation
from contract.warrants import key_id
from coordinator.db import Warrant as WarrantRow
from nodes.identity import load_identity
from privacy.signing import SigningKey
from privacy.tokens import issue
from tests.support.world import PASSWORD, T0, World, embedded_world, picture


@pytest.fixture
def world(tmp_path):
    w = embedded_world(tmp_path)
    w.add_node("alpha", "site-a")
    yield w
    w.close()


def last_entry(world: World):
    return world.svc.audit.entry(world.svc.audit.size() - 1).record


def entries(world: World, action: Action) -> list:
    return [e.record for e in world.svc.audit.entries(0, 10_000) if e.record.action is action]


def problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    if code:
        assert body["code"] == code, body
    return body


def test_openapi_lists_every_resource(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"][
        "password"]["tokenUrl"] == "/token"
    paths = document["paths"]
    for path in ("/token", "/users", "/nodes", "/warrants", "/consents", "/queries",
                 "/queries/{query_id}", "/warrants/{warrant_id}/signatures",
                 "/warrants/{warrant_id}/revocation", "/audit/checkpoint"):
        assert path in paths


def test_passwords_are_hashed_and_logins_rate_limited(world: World) -> None:
    with world.svc.session() as session:
        from coordinator.db import User
        assert session.get(User, "police").password_hash.startswith("$argon2id$")
    for _ in range(world.settings.login_failures):
        problem(world.client.post("/token", data={"grant_type": "password", "username": "police",
                                                  "password": "wrong guess"}), 401, "login_failed")
    locked = world.client.post("/token", data={"grant_type": "password", "username": "police",
                                               "password": PASSWORD})
    problem(locked, 429, "login_locked")
    assert int(locked.headers["retry-after"]) == world.settings.login_window_seconds
    counted = world.anonymous_denials()  # anonymous: counted per interval, test_denial_flood
    assert counted["login_failed"] == world.settings.login_failures
    assert counted["login_locked"] == 1
    # Another account from another address is unaffected.
    assert world.token("judge")


def test_each_route_needs_its_permission_and_every_denial_is_audited(world: World) -> None:
    warrant = world.draft()
    denied = [
        ("judge", "post", "/warrants", {}),
        ("police", "post", f"/warrants/{warrant['warrant_id']}/signatures",
         {"role": "judge", "signature": "AAAA"}),
        ("dpo", "post", f"/warrants/{warrant['warrant_id']}/signatures",
         {"role": "judge", "signature": "AAAA"}),
        ("planner", "get", "/warrants", None),
        ("judge", "post", "/queries", {"warrant_id": warrant["warrant_id"], "targets": ["A1"]}),
        ("police", "post", "/nodes", {}),
        ("police", "post", "/users", {}),
    ]
    before, counted = len(entries(world, Action.ACCESS_DENIED)), world.anonymous_denials()
    for user, method, path, body in denied:
        response = getattr(world.client, method)(path, headers=world.as_(user),
                                                 **({"json": body} if body is not None else {}))
        problem(response, 403, "forbidden")
    problem(world.client.get("/warrants"), 401, "unauthenticated")
    problem(world.client.get("/warrants", headers={"Authorization": "Bearer x.y.z"}), 401,
            "bad_token")
    forged = issue({"sub": "police", "role": "judge", "aud": "safecity-coordinator",
                    "iat": 0, "exp": 2**40}, SigningKey.generate(), "token")
    problem(world.client.get("/warrants", headers={"Authorization": f"Bearer {forged}"}), 401)
    denials = entries(world, Action.ACCESS_DENIED)[before:]
    assert len(denials) == len(denied)  # people, one entry each
    assert {d.outcome for d in denials} == {"forbidden"}
    counted = world.anonymous_denials() - counted  # anonymous callers, counted
    assert counted == {"unauthenticated": 1, "bad_token": 2}


def test_a_disabled_account_loses_its_token_at_once(world: World) -> None:
    from coordinator.db import User

    headers = world.as_("police")
    assert world.client.get("/users/me", headers=headers).json()["role"] == "police_analyst"
    with world.svc.session() as session:
        session.get(User, "police").active = False
    problem(world.client.get("/users/me", headers=headers), 401, "bad_token")


def test_nodes_get_tokens_with_assertions_signed_by_their_enrolled_key(world: World) -> None:
    node = world.nodes["alpha"]
    identity = load_identity(node.settings.keys_dir)
    now = int(world.clock().timestamp())
    claims = {"sub": node.node_id, "aud": "safecity-coordinator/token", "iat": now,
              "exp": now + 60, "jti": "assertion-1"}
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assertion = issue(claims, identity.signing, node.node_id)
    good = world.client.post("/token", data={"grant_type": grant, "assertion": assertion})
    assert good.status_code == 200 and good.json()["role"] == "node"
    # single use: the same assertion (or another with its jti) is refused, and one without a
    # jti, or good for longer than five minutes, is refused outright
    problem(world.client.post("/token", data={"grant_type": grant, "assertion": assertion}),
            401, "assertion_replayed")
    problem(world.client.post("/token", data={"grant_type": grant, "assertion": issue(
        {**claims, "exp": now + 90}, identity.signing, node.node_id)}), 401, "assertion_replayed")
    for bad in ({k: v for k, v in claims.items() if k != "jti"}, {**claims, "jti": 7},
                {**claims, "jti": "x" * 129}, {**claims, "jti": "nul\x00"},
                {**claims, "jti": "later", "exp": now + 3600}):
        problem(world.client.post("/token", data={"grant_type": grant, "assertion": issue(
            bad, identity.signing, node.node_id)}), 401, "bad_assertion")
    me = world.client.get("/users/me", headers={"Authorization": "Bearer "
                                                + good.json()["access_token"]})
    assert me.json()["username"] == node.node_id
    problem(world.client.post("/token", data={"grant_type": grant, "assertion": issue(
        claims, SigningKey.generate(), node.node_id)}), 401, "bad_assertion")
    problem(world.client.post("/token", data={"grant_type": grant, "assertion": issue(
        claims, identity.signing, "no-such-node")}), 401, "unknown_node")


def test_warrant_lifecycle_is_logged_and_keeps_no_plain_target(world: World) -> None:
    warrant = world.draft()
    assert warrant["status"] == "draft"
    assert "AB12CDE" not in str(warrant["document"])
    response = world.sign(warrant)
    registered = response.json()
    assert registered["status"] == "registered"
    entry = world.svc.audit.entry(registered["registered_index"]).record
    assert entry.action is Action.WARRANT_REGISTERED
    assert entry.warrant_id == warrant["warrant_id"]
    assert "case" in entry.commitments and "warrant_sha256" in entry.commitments
    actions = [e.record.action for e in world.svc.audit.entries(0, 1000)
               if e.record.warrant_id == warrant["warrant_id"]]
    assert actions == [Action.WARRANT_DRAFTED, Action.WARRANT_SIGNED, Action.WARRANT_REGISTERED]
    db = sqlite3.connect(world.root / "coordinator.sqlite")
    documents = " ".join(str(r) for r in db.execute("SELECT * FROM warrants"))
    assert "AB12CDE" not in documents and "XY99ZZZ" not in documents
    problem(world.sign(warrant), 409)  # no signing a registered warrant again


def test_face_searches_need_the_dpo_and_consents_are_signed_by_the_dpo(world: World) -> None:
    face = world.draft(kind="face_watchlist", targets=["missing-person-1"],
                       references={"missing-person-1": picture(1)})
    assert world.sign(face).json()["status"] == "draft"
    assert world.sign(face, "dpo").json()["status"] == "registered"
    body = {"kind": "face_watchlist", "purpose_code": "missing-person", "sites": ["site-a"],
            "cameras": ["gate"], "window": face["document"]["warrant"]["window"],
            "not_before": face["document"]["warrant"]["not_before"],
            "expires_at": face["document"]["warrant"]["expires_at"], "max_uses": 1,
            "targets": ["child-ref-1"], "references": {"child-ref-1": picture(2)},
            "case_number": "MP-7",
            "justification": "guardian consent, signed form on file"}
    consent = world.client.post("/consents", headers=world.as_("dpo"), json=body)
    assert consent.status_code == 201, consent.text
    assert consent.json()["basis"] == "consent"
    problem(world.client.post("/consents", headers=world.as_("dpo"),
                              json=body | {"kind": "plate_watchlist", "targets": ["AB12CDE"],
                                           "references": None}),
            422)
    problem(world.sign(consent.json()), 422)  # a judge does not sign a consent
    registered = world.sign(consent.json(), "dpo").json()
    assert registered["status"] == "registered"
    entry = world.svc.audit.entry(registered["registered_index"]).record
    assert (entry.legal_basis, entry.consent_id, entry.warrant_id) == (
        "consent", registered["warrant_id"], None)


def test_a_signer_declines_with_a_reason_and_only_their_own_signature(world: World) -> None:
    """Declining is the signer's decision on a draft that waits for their signature: logged with
    its reason, final (no signature, no query after), and the draft's plain targets forgotten."""
    plate = world.draft()
    face = world.draft(kind="face_watchlist", targets=["person-1"],
                       references={"person-1": picture(1)})
    path = lambda w: f"/warrants/{w['warrant_id']}/decline"  # noqa: E731
    reason = {"role": "judge", "reason": "no grounds stated for the second plate"}
    problem(world.client.post(path(plate), headers=world.as_("police"), json=reason), 403,
            "forbidden")
    problem(world.client.post(path(plate), headers=world.as_("dpo"),
                              json=reason | {"role": "dpo"}), 422, "not_asked")
    problem(world.client.post(path(plate), headers=world.as_("judge"),
                              json=reason | {"reason": ""}), 422)
    seen = world.client.get(f"/warrants/{plate['warrant_id']}", headers=world.as_("judge"))
    assert seen.json()["for_signers"]["targets"] == ["AB12CDE", "XY99ZZZ"]
    declined = world.client.post(path(plate), headers=world.as_("judge"), json=reason)
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    entry = last_entry(world)
    assert (entry.action, entry.outcome, entry.warrant_id) == (
        Action.WARRANT_DECLINED, "declined_by_judge", plate["warrant_id"])
    assert world.client.get(f"/warrants/{plate['warrant_id']}", headers=world.as_("judge")
                            ).json()["for_signers"] is None
    problem(world.client.post(path(plate), headers=world.as_("judge"), json=reason), 409)
    problem(world.sign(plate), 409)
    refused = world.client.post("/queries", headers=world.as_("police"), json={
        "warrant_id": plate["warrant_id"], "targets": ["AB12CDE"]})
    problem(refused, 403, "unsigned")
    # a face search: the judge signed, the DPO declines to countersign
    assert world.sign(face).json()["status"] == "draft"
    problem(world.client.post(path(face), headers=world.as_("judge"), json=reason), 422,
            "not_asked")
    declined = world.client.post(path(face), headers=world.as_("dpo"),
                                 json={"role": "dpo", "reason": "the photo is not the child"})
    assert declined.json()["status"] == "declined"
    assert last_entry(world).outcome == "declined_by_dpo"


def query(world: World, warrant_id: str, **body):
    return world.client.post("/queries", headers=world.as_("police"),
                             json={"warrant_id": warrant_id, "targets": ["AB12CDE"]} | body)


def refused_at_coordinator(world: World, response, reason: str, status: int = 403) -> None:
    problem(response, status, reason)
    entry = last_entry(world)
    assert entry.action is Action.WARRANT_REFUSED and entry.outcome == reason


def test_refusals_at_the_coordinator(world: World) -> None:
    unsigned = world.draft()
    refused_at_coordinator(world, query(world, unsigned["warrant_id"]), "unsigned")
    refused_at_coordinator(world, world.sign(unsigned, key=SigningKey.generate()),
                           "unknown_signer")
    warrant = world.registered(max_uses=2)
    wid = warrant["warrant_id"]
    refused_at_coordinator(world, query(world, wid, cameras=["gate", "vault-door"]),
                           "out_of_scope_camera")
    refused_at_coordinator(world, query(world, wid, window={
        "start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}),
        "out_of_scope_time")
    refused_at_coordinator(world, query(world, wid, targets=["QQ77QQQ"]), "out_of_scope_target")
    world.set_time(T0 + timedelta(days=3))
    refused_at_coordinator(world, query(world, wid), "expired")
    world.set_time(T0 - timedelta(hours=2))
    refused_at_coordinator(world, query(world, wid), "not_yet_valid")
    world.set_time(None)
    first = query(world, wid)
    assert first.status_code == 202, first.text
    refused_at_coordinator(world, query(world, wid, query_id=first.json()["query_id"]),
                           "replayed", 409)
    assert query(world, wid).status_code == 202
    refused_at_coordinator(world, query(world, wid), "used_up")


def test_revocation_and_a_log_that_does_not_register_the_warrant(world: World) -> None:
    warrant = world.registered()
    wid = warrant["warrant_id"]
    with world.svc.session() as session:  # the database points at another entry
        session.get(WarrantRow, wid).registered_index = 0
    refused_at_coordinator(world, query(world, wid), "not_in_log")
    with world.svc.session() as session:
        session.get(WarrantRow, wid).registered_index = warrant["registered_index"]
    body = Revocation(warrant_id=wid, revoked_at=world.clock(), reason="case-closed")
    stranger = SigningKey.generate()
    forged = SignedRevocation(revocation=body, key_id=key_id(stranger.public),
                              signature=body.sign(stranger))
    refused_at_coordinator(world, world.client.post(
        f"/warrants/{wid}/revocation", headers=world.as_("judge"),
        json=forged.model_dump(mode="json")), "unknown_signer")
    genuine = SignedRevocation(revocation=body, key_id=key_id(world.judge_key.public),
                               signature=body.sign(world.judge_key))
    response = world.client.post(f"/warrants/{wid}/revocation", headers=world.as_("judge"),
                                 json=genuine.model_dump(mode="json"))
    assert response.status_code == 200, response.text
    assert response.json()["nodes_told"] == [world.nodes["alpha"].node_id]
    assert last_entry(world).action is Action.WARRANT_REVOKED
    refused_at_coordinator(world, query(world, wid), "revoked")


def test_bad_input_gets_problem_details_not_500s(world: World) -> None:
    warrant = world.registered()
    wid = warrant["warrant_id"]
    body = problem(query(world, wid, targets=["AB12CDE", "NOT A PLATE!"]), 422, "malformed_plate")
    assert "targets.1" in body["detail"]
    problem(query(world, wid, targets=[f"AB{i:05d}" for i in range(5000)]), 413,
            "too_many_targets")
    problem(world.client.post("/warrants", headers=world.as_("police"),
                              json={"kind": "plate_watchlist", "targets": ["A" * 40]}), 422)
    elsewhere = world.registered(sites=["site-z"])
    problem(query(world, elsewhere["warrant_id"]), 422, "unknown_node")
    problem(world.client.get("/nodes/no-such-node/enrolment", headers=world.as_("admin")), 404)
    problem(world.client.get("/queries/00000000-0000-0000-0000-000000000000",
                             headers=world.as_("police")), 404)
    huge = b'{"targets": ["' + b"A" * (world.settings.max_upload_bytes + 10) + b'"]}'
    problem(world.client.post("/warrants", headers=world.as_("police") | {
        "content-type": "application/json"}, content=huge), 413, "too_large")
    problem(world.client.post("/warrants", headers=world.as_("police") | {
        "content-type": "application/json"}, content=b"{not json"), 422)
    problem(world.client.post("/token", data={"grant_type": "client_credentials"}), 400,
            "unsupported_grant_type")
    problem(world.client.post(f"/warrants/{wid}/signatures", headers=world.as_("judge"),
                              json={"role": "judge", "signature": "AAAA"}), 409, "registered")
    draft = world.draft()
    problem(world.client.post(f"/warrants/{draft['warrant_id']}/signatures",
                              headers=world.as_("judge"),
                              json={"role": "judge", "signature": "%%%"}), 422)


def test_a_judge_can_sign_offline_with_the_cli_and_upload_the_signature(world: World,
                                                                        tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from nodes.cli import main

    warrant = world.draft()
    document = tmp_path / "warrant.json"
    document.write_text(json.dumps(warrant["document"]))
    world.judge_key.save(tmp_path / "judge.key")
    signed = CliRunner().invoke(main, ["warrant", "sign", str(document), "--key",
                                       str(tmp_path / "judge.key"), "--as", "judge"])
    assert signed.exit_code == 0, signed.output
    signature = json.loads(document.read_text())["judge"]["signature"]
    response = world.client.post(f"/warrants/{warrant['warrant_id']}/signatures",
                                 headers=world.as_("judge"),
                                 json={"role": "judge", "signature": signature})
    assert response.status_code == 200 and response.json()["status"] == "registered"


def test_a_broker_that_is_gone_gives_503_or_a_per_node_status_not_a_500(tmp_path) -> None:
    world = World(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite'}", "redis://127.0.0.1:9/0",
                  "redis://127.0.0.1:9/1")  # nothing listens on port 9
    try:
        world.svc.dispatcher.app.conf.task_publish_retry_policy = {"max_retries": 0}
        world.svc.dispatcher.app.conf.broker_connection_timeout = 0.5
        world.svc.dispatcher.app.conf.broker_connection_max_retries = 0
        world.add_node("alpha", "site-a")
        warrant = world.registered()
        response = query(world, warrant["warrant_id"])
        assert response.status_code == 202, response.text
        assert response.json()["nodes"][0]["status"] == "failed"
        assert response.json()["nodes"][0]["reason"] == "broker_unavailable"
    finally:
        world.close()
