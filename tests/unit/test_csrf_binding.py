"""The CSRF token of a signed-in browser is bound to its session (red team 14): a cookie planted
for the coordinator's host with a matching form field or header is refused; the page's own token
works; a new session gets a new token; the login form still works before any session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.support.world import World, embedded_world
from tests.unit.test_admin import signed_in
from tests.unit.test_aggregates import ZONES


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory):
    world = embedded_world(tmp_path_factory.mktemp("csrf"), query_timeout=2.0)
    world.add_node("alpha", "site-a", analytics=ZONES)
    yield world
    world.close()


def question(csrf: str) -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"kind": "zone_counts_hourly", "start_day": str(today - timedelta(days=1)),
            "start_hour": "0", "end_day": str(today), "end_hour": "0", "epsilon": "1.0",
            "delta": "0", "csrf": csrf}


def test_a_planted_csrf_cookie_and_matching_field_are_refused(city: World) -> None:
    victim = signed_in(city, "planner")
    session = victim.cookies["safecity_session"]
    forged = TestClient(city.client.app, cookies={"safecity_session": session,
                                                  "safecity_csrf": "planted-by-attacker"})
    start = city.svc.audit.size()
    refused = forged.post("/planner/questions", data=question("planted-by-attacker"),
                          follow_redirects=False)
    assert refused.status_code == 403
    assert forged.post("/users/police/disable",
                       headers={"X-CSRF-Token": "planted-by-attacker"}).status_code == 403
    outcomes = [e.record.outcome for e in city.svc.audit.entries(start, 10_000)]
    assert not any("aggregate" in o or o == "user_disabled" for o in outcomes)


def test_the_page_s_own_token_works_and_each_session_has_its_own(city: World) -> None:
    first, second = signed_in(city, "planner"), signed_in(city, "planner")
    token = first.cookies["safecity_csrf"]
    assert token != second.cookies["safecity_csrf"]
    page = first.get("/planner", headers={"accept": "text/html"})
    assert f'name="csrf-token" content="{token}"' in page.text
    # the other session's token does not pass with this session's cookie
    assert first.post("/planner/questions", data=question(second.cookies["safecity_csrf"]),
                      follow_redirects=False).status_code == 403
    asked = first.post("/planner/questions", data=question(token), follow_redirects=False)
    assert asked.status_code == 303, asked.text


def test_signing_in_still_works_with_a_cookie_only_double_submit(city: World) -> None:
    browser = TestClient(city.client.app)
    browser.get("/login", headers={"accept": "text/html"})
    wrong = browser.post("/login", data={"username": "planner", "password": "x",
                                         "csrf": "not-the-cookie"}, follow_redirects=False)
    assert wrong.status_code == 403
    assert signed_in(city, "planner").cookies["safecity_session"]
