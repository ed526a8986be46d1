"""The admin's page and the user routes it calls (issue 24): the pure parts (key fingerprints,
every invalid field of a 422 as a pointer, the steps before the first enrolment), and the
refusals a browser session meets: only an admin reaches the page or its actions, and an
action under the session cookie needs the session's CSRF token; every refusal of a signed-in
person is audited, every action too (as the API audits it)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from audit.records import Action
from contract.warrants import key_id
from coordinator.keys import fingerprint
from coordinator.roles import Role
from coordinator.services.nodes import first_steps
from kernel.problems import field_errors
from privacy.sealing import RecipientKey
from privacy.signing import SigningKey
from tests.support.page_client import browser_for
from tests.support.problem_details import problem
from tests.support.world import World, embedded_world


def test_fingerprints_name_ed25519_keys_by_key_id_and_others_by_their_text() -> None:
    signing = SigningKey.generate().public
    assert fingerprint(signing.text()) == key_id(signing) == fingerprint(f" {signing.text()}\n")
    sealing = RecipientKey.generate().public_text()
    other = RecipientKey.generate().public_text()
    assert len(fingerprint(sealing)) == 32 and fingerprint(sealing) != fingerprint(other)
    assert all(c in "0123456789abcdef" for c in fingerprint(sealing))


def test_every_invalid_field_is_a_pointer_or_a_parameter() -> None:
    found = field_errors([
        {"loc": ("body", "node_id"), "msg": "Field required"},
        {"loc": ("body", "camera_notices", 0, "a/b~c"), "msg": "bad"},
        {"loc": ("body",), "msg": "camera_notices lack cameras yard"},
        {"loc": ("query", "limit"), "msg": "too big"}, {"loc": (), "msg": "odd"}])
    assert found == [{"detail": "Field required", "pointer": "#/node_id"},
                     {"detail": "bad", "pointer": "#/camera_notices/0/a~1b~0c"},
                     {"detail": "camera_notices lack cameras yard", "pointer": "#"},
                     {"detail": "too big", "parameter": "limit"}, {"detail": "odd"}]


def test_the_steps_before_the_first_enrolment() -> None:
    assert first_steps([], False, "admin") == []
    both = first_steps([Role.JUDGE, Role.DPO], True, "ops-1")
    assert len(both) == 3
    assert "--role judge" in both[0] and "--role dpo" in both[1] and "--as ops-1" in both[0]
    assert "safecity warrant keygen --out dpo.key" in both[1]
    assert "[[witnesses]]" in both[2] and "restart" in both[2]
    assert first_steps([], True, "admin")[0].startswith("no witnesses are configured")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = embedded_world(tmp_path_factory.mktemp("admin"))
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def signed_in(world: World, username: str) -> TestClient:
    """A browser signed in as ``username``: the session cookie and its CSRF token."""
    return browser_for(world, username, follow_redirects=True)


def outcomes(world: World, start: int) -> list[tuple[str, str]]:
    return [(e.record.action.value, e.record.outcome)
            for e in world.svc.audit.entries(start, 10_000)]


NEW_USER = {"username": "planner-2", "role": "planner", "agency": "city",
            "password": "a long enough password"}


def test_only_an_admin_reaches_the_page_and_its_actions(city: World) -> None:
    page = {"accept": "text/html"}
    anonymous = TestClient(city.client.app)
    to_login = anonymous.get("/admin", headers=page, follow_redirects=False)
    assert to_login.status_code == 303 and to_login.headers["location"] == "/login?next=/admin"
    problem(anonymous.post("/users", json=NEW_USER), 401, "unauthenticated")

    for name in ("police", "planner", "operator", "judge", "dpo"):
        browser = signed_in(city, name)
        csrf = {"X-CSRF-Token": browser.cookies["safecity_csrf"]}
        start = city.svc.audit.size()
        refused = browser.get("/admin", headers=page)
        assert refused.status_code == 403 and "Administration" not in refused.text
        assert "may not user:manage" in refused.text
        # a valid login posting the page's actions directly, with the right CSRF token
        problem(browser.post("/users", json=NEW_USER, headers=csrf), 403, "forbidden")
        problem(browser.post("/users/police/disable", headers=csrf), 403, "forbidden")
        problem(browser.post("/nodes", json={}, headers=csrf), 403, "forbidden")
        problem(browser.get("/users"), 403, "forbidden")
        problem(browser.get(f"/admin/nodes/{city.nodes['alpha'].node_id}/enrolment.json"),
                403, "forbidden")
        # each refusal of a signed-in person is an audit entry
        assert outcomes(city, start) == [("access_denied", "forbidden")] * 6, name
    assert city.client.get("/users/me", headers=city.as_("police")).status_code == 200


def test_an_action_under_the_session_cookie_needs_its_csrf_token(city: World) -> None:
    admin = signed_in(city, "admin")
    start = city.svc.audit.size()
    for wrong in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
        problem(admin.post("/users", json=NEW_USER, headers=wrong), 403, "csrf")
        problem(admin.post("/users/police/disable", headers=wrong), 403, "csrf")
        problem(admin.post("/nodes", json={}, headers=wrong), 403, "csrf")
    # the form-field token the login form uses is no substitute for the header on the API
    problem(admin.post("/users", data={**NEW_USER, "csrf": admin.cookies["safecity_csrf"]}),
            403, "csrf")
    assert not any(a == "config_change" for a, _ in outcomes(city, start))
    assert city.client.get("/users/me", headers=city.as_("police")).status_code == 200


def test_the_admin_creates_lists_and_disables_users_audited(city: World) -> None:
    admin = signed_in(city, "admin")
    csrf = {"X-CSRF-Token": admin.cookies["safecity_csrf"]}
    shown = admin.get("/admin", headers={"accept": "text/html"})
    assert shown.status_code == 200 and "Administration" in shown.text
    node = city.nodes["alpha"]
    with city.svc.session() as session:
        from coordinator.db import Node

        identity = session.get(Node, node.node_id).identity_key
    assert fingerprint(identity) in shown.text and city.judge_key.public.text() in shown.text
    for secret in ("PRIVATE", "password_hash", "$argon2"):
        assert secret not in shown.text
    start = city.svc.audit.size()
    made = admin.post("/users", json={**NEW_USER, "username": "planner-3"}, headers=csrf)
    assert made.status_code == 201, made.text
    listed = {u["username"]: u for u in admin.get("/users").json()}
    assert listed["planner-3"]["active"] and listed["judge"]["key_id"] == key_id(
        city.judge_key.public)
    assert not any("password" in k for u in listed.values() for k in u)
    granted = city.client.post("/token", data={"grant_type": "password", "username":
                                               "planner-3", "password": NEW_USER["password"]})
    token = granted.json()["access_token"]
    gone = admin.post("/users/planner-3/disable", headers=csrf)
    assert gone.status_code == 200 and gone.json()["active"] is False and "note" not in gone.json()
    refused = city.client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
    problem(admin.post("/users/planner-3/disable", headers=csrf), 409, "disabled")
    problem(admin.post("/users/admin/disable", headers=csrf), 409, "self")
    problem(admin.post("/users/nobody-here/disable", headers=csrf), 404, "not_found")
    entries = [(e.record.outcome, e.record.actor.pseudonym,
                {k: json.loads(v) for k, v in city.svc.audit.details(e.index).items()})
               for e in city.svc.audit.entries(start, 10_000)
               if e.record.action is Action.CONFIG_CHANGE]
    admin_pseudonym = city.svc.keys.pseudonym("admin")
    assert entries == [("user_created", admin_pseudonym, {"user": "planner-3", "role": "planner"}),
                       ("user_disabled", admin_pseudonym,
                        {"user": "planner-3", "role": "planner"})]
    document = admin.get(f"/admin/nodes/{node.node_id}/enrolment.json")
    assert document.status_code == 200 and "attachment" in document.headers[
        "content-disposition"]
    assert json.loads(document.text)["node_id"] == node.node_id


