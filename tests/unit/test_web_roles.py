"""Role checks in the pages hold as in the API: a citizen cannot open the DPO console, a police
analyst cannot sign; each denial is an audit entry. The session cookie is HttpOnly and
SameSite=Strict, and a change made with it needs the session's CSRF token. Pages carry a strict
Content-Security-Policy; the login page redirects only within the site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audit.records import Action
from coordinator.app import create_app
from tests.support.page_client import HTML, browser_for
from tests.support.world import PASSWORD, World, embedded_world, picture

PAGES = {  # page: the roles that may open it
    "/console": {"dpo"}, "/console/entries/0": {"dpo"}, "/console/approvals": {"dpo"},
    "/console/budgets": {"dpo"}, "/console/record-of-processing": {"dpo"},
    "/console/record-of-processing.csv": {"dpo"}, "/console/record-of-processing.pdf": {"dpo"},
    "/casework": {"police", "judge", "dpo"}, "/casework/new": {"police"},
    "/control-room": {"operator"}, "/planner": {"planner"},
}
PEOPLE = ("police", "judge", "dpo", "planner", "operator", "admin")


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def denials(world: World) -> list[str]:
    return [e.record.outcome for e in world.svc.audit.entries(limit=10_000)
            if e.record.action is Action.ACCESS_DENIED]


def test_every_page_for_every_role(city: World) -> None:
    for page in PAGES:
        anonymous = browser_for(city, None).get(page, headers=HTML)
        assert anonymous.status_code == 303, page
        assert anonymous.headers["location"].startswith(f"/login?next={page}")
    for person in PEOPLE:
        client = browser_for(city, person)
        for page, allowed in PAGES.items():
            before = len(denials(city))
            answer = client.get(page, headers=HTML)
            if person in allowed:
                assert answer.status_code == 200, (person, page, answer.text[:300])
            else:
                assert answer.status_code == 403, (person, page)
                assert "may not" in answer.text and answer.headers["content-type"].startswith(
                    "text/html")
                assert denials(city)[before:] == ["forbidden"], (person, page)  # audited
    for public in ("/portal", "/portal/verify", "/portal/report.json", "/login"):
        assert browser_for(city, None).get(public, headers=HTML).status_code == 200


def test_a_police_analyst_cannot_sign_and_the_cookie_needs_its_csrf_token(city: World) -> None:
    warrant = city.draft()
    police = browser_for(city, "police")
    page = police.get(f"/casework/warrants/{warrant['warrant_id']}", headers=HTML)
    assert page.status_code == 200 and 'id="sign-form"' not in page.text
    body = {"role": "judge", "signature": "A" * 88}
    csrf = {"X-CSRF-Token": police.cookies["safecity_csrf"]}
    forged = police.post(f"/warrants/{warrant['warrant_id']}/signatures", json=body,
                         headers=csrf)
    assert forged.status_code == 403 and forged.json()["code"] == "forbidden"
    # without the token, the cookie alone changes nothing (another site cannot forge it)
    judge = browser_for(city, "judge")
    for client, path, payload in ((judge, f"/warrants/{warrant['warrant_id']}/signatures", body),
                                  (police, "/warrants", {"kind": "plate_watchlist"})):
        before = city.anonymous_denials()["csrf"]
        refused = client.post(path, json=payload)
        assert refused.status_code == 403 and refused.json()["code"] == "csrf"
        wrong = client.post(path, json=payload, headers={"X-CSRF-Token": "x" * 43})
        assert wrong.status_code == 403 and wrong.json()["code"] == "csrf"
        assert city.anonymous_denials()["csrf"] - before == 2  # counted: see test_denial_flood
    assert city.client.get(f"/warrants/{warrant['warrant_id']}",
                           headers=city.as_("judge")).json()["status"] == "draft"


def test_the_session_cookie_and_the_pages_headers(city: World) -> None:
    client = TestClient(create_app(city.svc), follow_redirects=False)
    client.get("/login", headers=HTML)
    answer = client.post("/login", data={"username": "dpo", "password": PASSWORD,
                                         "csrf": client.cookies["safecity_csrf"],
                                         "next": "https://evil.example/"})
    # no open redirect
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    cookie = next(h for h in answer.headers.get_list("set-cookie")
                  if h.startswith("safecity_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    page = client.get("/console", headers=HTML)
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "<script>" not in page.text  # no inline script
    assert page.headers["x-content-type-options"] == "nosniff"
    # signing out ends the session
    client.post("/logout", data={"csrf": client.cookies["safecity_csrf"]})
    assert client.get("/console", headers=HTML).status_code == 303


def test_the_login_page_refuses_a_forged_form_and_locks_out_like_the_api(city: World) -> None:
    client = TestClient(create_app(city.svc), follow_redirects=False)
    client.get("/login", headers=HTML)
    forged = client.post("/login", data={"username": "dpo", "password": PASSWORD, "csrf": "x"})
    assert forged.status_code == 403 and "form expired" in forged.text
    csrf = client.cookies["safecity_csrf"]
    for _ in range(city.settings.login_failures):
        wrong = client.post("/login", data={"username": "dpo", "password": "nope", "csrf": csrf})
        assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    locked = client.post("/login", data={"username": "dpo", "password": PASSWORD, "csrf": csrf})
    assert locked.status_code == 429 and "too many failed logins" in locked.text
    assert locked.headers["retry-after"]
    assert city.anonymous_denials()["login_locked"] == 1


def test_console_filters_reject_bad_values_with_a_clear_message(city: World) -> None:
    dpo = browser_for(city, "dpo")
    bad = dpo.get("/console", params={"action": "dance"}, headers=HTML)
    assert bad.status_code == 422 and "not an audit action" in bad.text
    bad = dpo.get("/console", params={"since": "yesterday"}, headers=HTML)
    assert bad.status_code == 422 and "is not a date" in bad.text
    assert dpo.get("/console/entries/99999", headers=HTML).status_code == 404
    assert dpo.get("/console/record-of-processing.csv", params={"month": "2026-13x"}
                   ).status_code == 422
    assert dpo.get("/console", params={"actor": "police"}, headers=HTML).status_code == 200


def test_each_person_is_offered_only_the_signature_they_may_add(city: World) -> None:
    plate = city.draft()
    face = city.draft(kind="face_watchlist", purpose_code="missing-person",
                      targets=["person-1"], references={"person-1": picture(1)})
    judge, dpo = browser_for(city, "judge"), browser_for(city, "dpo")

    def offered(client: TestClient, warrant: dict) -> str | None:
        page = client.get(f"/casework/warrants/{warrant['warrant_id']}", headers=HTML).text
        found = re.search(r'data-sign-as="([a-z]*)"', page)
        return (found.group(1) or None) if found else None

    assert offered(judge, plate) == "judge" and offered(dpo, plate) is None
    assert offered(judge, face) == "judge" and offered(dpo, face) == "dpo"
    assert city.sign(face).json()["status"] == "draft"  # the judge signed; the DPO must too
    assert offered(judge, face) is None and offered(dpo, face) == "dpo"
    assert city.sign(face, "dpo").json()["status"] == "registered"
    assert offered(dpo, face) is None
