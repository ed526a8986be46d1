"""Two admins disabling each other at the same moment (red team 14): both requests pass
``authenticate`` before either commits, yet an active admin remains and the loser gets a 409
problem. On PostgreSQL (row locks) and SQLite (the write lock taken before the reads)."""

from __future__ import annotations

import threading
from pathlib import Path
from unittest.mock import patch

import httpx
import pytest

from coordinator import auth
from coordinator.roles import Role
from coordinator.services import users
from coordinator.services.requests import NewUser
from tests.support.served import serving
from tests.support.world import PASSWORD, World, people_hash


@pytest.fixture(params=["postgresql", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path):
    url = (request.getfixturevalue("postgres_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'coordinator.sqlite'}")
    made = World(tmp_path, url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                 f"db+sqlite:///{tmp_path / 'results.sqlite'}")
    with patch.object(users, "hash_password", people_hash):
        users.create_user(made.svc, NewUser(username="admin2", role=Role.ADMIN, agency="city",
                                            password=PASSWORD, signing_key=None),
                          made.svc.actor("admin", "admin", "city"))
    yield made
    made.close()


def test_two_admins_disabling_each_other_leave_one_active(world: World) -> None:
    with serving(world.svc) as base:
        token = {u: httpx.post(f"{base}/token", data={
            "grant_type": "password", "username": u, "password": PASSWORD}).json()["access_token"]
            for u in ("admin", "admin2")}
        # both callers are authenticated (still active) before either request goes on
        both_in = threading.Barrier(2, timeout=60)
        holder = auth._holder

        def authenticated_together(svc, tok):  # type: ignore[no-untyped-def]
            who = holder(svc, tok)
            both_in.wait()
            return who

        answers: dict[str, httpx.Response] = {}

        def disable(me: str, other: str) -> None:
            answers[me] = httpx.post(f"{base}/users/{other}/disable", timeout=60,
                                     headers={"Authorization": f"Bearer {token[me]}"})

        with patch.object(auth, "_holder", authenticated_together):
            threads = [threading.Thread(target=disable, args=("admin", "admin2")),
                       threading.Thread(target=disable, args=("admin2", "admin"))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    statuses = sorted(r.status_code for r in answers.values())
    assert statuses == [200, 409], {me: r.text for me, r in answers.items()}
    refused = next(r for r in answers.values() if r.status_code == 409)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] in {"caller_inactive", "last_admin"}
    active = [u["username"] for u in users.listed(world.svc)
              if u["role"] == "admin" and u["active"]]
    assert len(active) == 1
    winner = next(me for me, r in answers.items() if r.status_code == 200)
    assert active == [winner]


def test_the_last_active_admin_cannot_be_disabled_by_a_lone_manager(world: World) -> None:
    """Direct use-case call (the CLI path): the caller 'admin' is already disabled."""
    users.disable(world.svc, "admin2", world.svc.actor("admin", "admin", "city"), "admin")
    with pytest.raises(users.Problem) as refused:
        users.disable(world.svc, "admin", world.svc.actor("admin2", "admin", "city"), "admin2")
    assert refused.value.status == 409 and refused.value.code == "caller_inactive"
