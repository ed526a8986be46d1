"""A test client that holds cookies like a browser and signs in through the login page (the
session cookie and its CSRF token), for the pages' tests that need no real browser."""

from __future__ import annotations

from fastapi.testclient import TestClient

from coordinator.app import create_app
from tests.support.world import PASSWORD, World

HTML = {"accept": "text/html"}


def browser_for(world: World, username: str | None, follow_redirects: bool = False
                ) -> TestClient:
    """A client of ``world``'s coordinator, signed in as ``username`` (anonymous if None)."""
    client = TestClient(create_app(world.svc), follow_redirects=follow_redirects)
    client.get("/login", headers=HTML)
    if username:
        signed_in = client.post("/login", data={"username": username, "password": PASSWORD,
                                                "csrf": client.cookies["safecity_csrf"]},
                                follow_redirects=False)
        assert signed_in.status_code == 303, signed_in.text
    return client
