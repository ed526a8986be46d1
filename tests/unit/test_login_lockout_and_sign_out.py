"""Issue 20, findings 6 and 10, against real `safecity coordinator serve` processes.

Guesses sent at once to two API workers are counted before Argon2 checks them, so no more than
the limit are ever checked in a window (the count read, then the hash, then the failure written
let 33 of 60 through). Signing out revokes the session's token in every worker until it
expires, and a node's assertion is redeemed once, whichever worker sees it first; the
housekeeping job forgets both once they have expired."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coordinator.db import LoginTries, SpentTokenId
from coordinator.housekeeping import housekeeping
from tests.support.world import PASSWORD, embedded_world

SAFECITY = [sys.executable, "-c", "from nodes.cli import main; main()"]
GUESSES = 60
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_housekeeping_forgets_spent_ids_and_login_counts_once_expired(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        world.add_node("alpha", "site-a")
        world.node_token("alpha")  # a used assertion
        token = world.token("police")
        world.client.get("/login", headers={"accept": "text/html"})
        csrf = world.client.cookies["safecity_csrf"]
        world.client.cookies.set("safecity_session", token)
        world.client.post("/logout", data={"csrf": csrf})
        refused = world.client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        world.client.post("/token", data={"grant_type": "password", "username": "judge",
                                          "password": "wrong guess"})
        with world.svc.session() as session:
            assert session.query(SpentTokenId).count() == 2
            counters = session.query(LoginTries).count()
            assert session.get(LoginTries, ("account", "judge")).tries == 1
        assert housekeeping(world.svc)["purged_spent"] == 0  # nothing has expired yet
        world.set_time(datetime.now(UTC) + timedelta(minutes=world.settings.token_minutes,
                                                     seconds=61))
        assert housekeeping(world.svc)["purged_spent"] == 2 + counters
        with world.svc.session() as session:
            assert session.query(SpentTokenId).count() == 0
            assert session.query(LoginTries).count() == 0
    finally:
        world.close()


def test_a_failed_sign_in_attempt_rolls_back_a_half_taken_slot(tmp_path: Path) -> None:
    """A locked account must not use up the client's tries: refused under the account's limit,
    the try taken under the client's is given back in the same transaction."""
    world = embedded_world(tmp_path)
    try:
        limit = world.settings.login_failures
        for _ in range(limit + 3):
            world.client.post("/token", data={"grant_type": "password", "username": "judge",
                                              "password": "wrong guess"})
        with world.svc.session() as session:
            assert session.get(LoginTries, ("account", "judge")).tries == limit
            assert session.get(LoginTries, ("client", "testclient")).tries == limit
        assert json.loads(world.client.post("/token", data={
            "grant_type": "password", "username": "police",
            "password": PASSWORD}).text)["role"] == "police_analyst"
        with world.svc.session() as session:
            assert session.get(LoginTries, ("client", "testclient")).tries == limit
    finally:
        world.close()


def test_signing_out_from_a_stale_tab_still_signs_out(tmp_path: Path) -> None:
    """Found by the red team: sign in, sign in again in another tab (a new CSRF token), press
    Sign out in the first tab: the browser was sent to the portal as if signed out while the
    session went on. Now the session's token is revoked all the same, and so is the token of
    the session the second sign-in replaced."""
    world = embedded_world(tmp_path)
    try:
        browser = world.client
        browser.get("/login", headers={"accept": "text/html"})
        stale = browser.cookies["safecity_csrf"]
        first = browser.post("/login", data={"username": "police", "password": PASSWORD,
                                             "csrf": stale}, follow_redirects=False)
        assert first.status_code == 303
        first_token = browser.cookies["safecity_session"]
        again = browser.post("/login", data={"username": "police", "password": PASSWORD,
                                             "csrf": browser.cookies["safecity_csrf"]},
                             follow_redirects=False)
        assert again.status_code == 303
        second_token = browser.cookies["safecity_session"]
        assert second_token != first_token and browser.cookies["safecity_csrf"] != stale
        out = browser.post("/logout", data={"csrf": stale}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/portal"
        browser.cookies.clear()
        for token in (first_token, second_token):
            refused = browser.get("/users/me", headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    finally:
        world.close()
