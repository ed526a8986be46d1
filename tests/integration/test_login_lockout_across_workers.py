"""Login limits and sign-out held across API worker processes and on PostgreSQL."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from coordinator.config import load_coordinator_settings
from coordinator.db import LoginTries, Node, SpentTokenId, make_engine, session_factory
from coordinator.service import Coordinator
from privacy.sealing import RecipientKey
from privacy.signing import SigningKey
from privacy.tokens import issue
from tests.support.served import free_port
from tests.support.world import PASSWORD, World, anonymous_denials, stop
from tests.unit.test_login_lockout_and_sign_out import GUESSES, JWT_BEARER, SAFECITY


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coordinator.sqlite'}"
    return request.getfixturevalue("postgres_url")


def city_config(tmp_path: Path, database_url: str, port: int, workers: int) -> Path:
    """A coordinator config on ``database_url`` with one police analyst (password PASSWORD)."""
    config = tmp_path / f"coordinator-{port}.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\ndatabase_url = "{database_url}"\n'
                      f"port = {port}\nworkers = {workers}\n"
                      f'metrics_address = "127.0.0.1:{free_port()}"\n')
    return config


def cli(*args: str, stdin: str = "", cwd: Path) -> str:
    done = subprocess.run([*SAFECITY, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def set_up(config: Path) -> None:
    cli("coordinator", "init", "--config", str(config), cwd=config.parent)
    cli("coordinator", "add-user", "--config", str(config), "--username", "admin",
        "--role", "admin", "--agency", "city", "--password-stdin",
        stdin=PASSWORD + "\n", cwd=config.parent)
    cli("coordinator", "add-user", "--config", str(config), "--username", "police",
        "--role", "police_analyst", "--agency", "city-pd", "--password-stdin", "--as", "admin",
        stdin=PASSWORD + "\n", cwd=config.parent)


@contextmanager
def serving(config: Path) -> Iterator[str]:
    """`safecity coordinator serve --config CONFIG` until the block ends; its base URL."""
    port = int(next(line for line in config.read_text().splitlines()
                    if line.startswith("port")).split("=")[1])
    log = open(config.with_suffix(".log"), "ab")  # noqa: SIM115 - the process owns it
    server = subprocess.Popen([*SAFECITY, "coordinator", "serve", "--config", str(config)],
                              cwd=config.parent, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, config.with_suffix(".log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the coordinator did not start"
            time.sleep(0.2)
        yield base
    finally:
        stop(server)
        log.close()


def denied(config: Path) -> Counter[str]:
    """The server's anonymous denials by outcome (a failed login or a replayed assertion is an
    anonymous caller's: counted per interval, not one audit entry each; test_denial_flood)."""
    svc = Coordinator.open(load_coordinator_settings(config))
    try:
        return anonymous_denials(svc)
    finally:
        svc.close()


def test_guesses_sent_at_once_to_two_workers_are_checked_at_most_the_limit(
        tmp_path: Path, database: str) -> None:
    config = city_config(tmp_path, database, free_port(), workers=2)
    set_up(config)
    limit = 5  # the default login_failures
    with serving(config) as base:
        start = threading.Barrier(GUESSES)

        def guess(n: int) -> int:
            start.wait()
            return httpx.post(f"{base}/token", timeout=120, data={
                "grant_type": "password", "username": "police",
                "password": f"wrong guess {n}"}).status_code

        with ThreadPoolExecutor(GUESSES) as pool:
            statuses = list(pool.map(guess, range(GUESSES)))
        right = httpx.post(f"{base}/token", data={"grant_type": "password",
                                                  "username": "police", "password": PASSWORD})
    logged = denied(config)
    assert right.status_code == 429  # the account stays shut for the window
    assert logged["login_failed"] == limit, logged  # checked by Argon2: the limit, no more
    assert logged["login_locked"] == GUESSES - limit + 1
    assert sorted(statuses) == [401] * limit + [429] * (GUESSES - limit)
    engine = make_engine(database)
    with session_factory(engine)() as session:
        assert session.get(LoginTries, ("account", "police")).tries == limit
    engine.dispose()


def enrol_node(database: str, signing: SigningKey) -> str:
    """An enrolled node's row, as `POST /nodes` leaves it (its keys are what matter here)."""
    node_id = f"alpha-{uuid.uuid4().hex[:8]}"
    engine = make_engine(database)
    with session_factory(engine)() as session, session.begin():
        session.add(Node(node_id=node_id, site_id="site-a", cameras=["gate"],
                         identity_key=signing.public.text(),
                         sealing_key=RecipientKey.generate().public_text(),
                         enrolled_by="admin", enrolled_at=datetime.now(UTC)))
    engine.dispose()
    return node_id


def sign_in(base: str) -> tuple[str, str]:
    """Sign in through the login page like a browser; the session cookie and CSRF token."""
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        browser.get("/login", headers={"accept": "text/html"})
        csrf = browser.cookies["safecity_csrf"]
        signed_in = browser.post("/login", data={"username": "police", "password": PASSWORD,
                                                 "csrf": csrf})
        assert signed_in.status_code == 303, signed_in.text
        return browser.cookies["safecity_session"], csrf


def test_sign_out_and_used_assertions_hold_in_every_worker(tmp_path: Path,
                                                           postgres_url: str) -> None:
    """Two `coordinator serve` processes on one database, so that the test (not the kernel)
    picks the worker: what one learns (a sign-out, a redeemed assertion) the other refuses."""
    first = city_config(tmp_path, postgres_url, free_port(), workers=1)
    second = city_config(tmp_path, postgres_url, free_port(), workers=1)
    set_up(first)
    signing = SigningKey.generate()
    node_id = enrol_node(postgres_url, signing)
    with serving(first) as one, serving(second) as other:
        cookie, csrf = sign_in(one)
        as_cookie = {"Cookie": f"safecity_session={cookie}"}
        as_bearer = {"Authorization": f"Bearer {cookie}"}
        for headers in (as_cookie, as_bearer):
            assert httpx.get(f"{other}/users/me", headers=headers).json()["username"] == "police"
        signed_out = httpx.post(f"{one}/logout", data={"csrf": csrf}, headers={
            "Cookie": f"safecity_session={cookie}; safecity_csrf={csrf}"})
        assert signed_out.status_code == 303
        assert "safecity_session=" in signed_out.headers["set-cookie"]  # the cookie is deleted
        for base in (other, one):
            for headers in (as_cookie, as_bearer):
                refused = httpx.get(f"{base}/users/me", headers=headers)
                assert refused.status_code == 401, refused.text
                assert "revoked" in refused.json()["detail"]
        assert sign_in(other)  # signing in again works: only that token was revoked

        now = int(time.time())
        assertion = issue({"sub": node_id, "aud": "safecity-coordinator/token", "iat": now,
                           "exp": now + 60, "jti": str(uuid.uuid4())}, signing, node_id)
        redeem = threading.Barrier(8)

        def present(base: str) -> int:
            redeem.wait()
            return httpx.post(f"{base}/token", timeout=60, data={
                "grant_type": JWT_BEARER, "assertion": assertion}).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(present, [one, other] * 4))
    assert sorted(statuses) == [200] + [401] * 7, statuses
    assert denied(first)["assertion_replayed"] == 7
    engine = make_engine(postgres_url)
    with session_factory(engine)() as session:
        spent = session.query(SpentTokenId).all()
    engine.dispose()
    assert {row.issuer for row in spent} == {"coordinator", f"node:{node_id}"}


def test_names_no_account_can_have_count_against_the_address_only(tmp_path: Path,
                                                                  postgres_url: str) -> None:
    """An anonymous caller hammering /token with names no account can have (a NUL, which
    PostgreSQL refuses in a string; capitals; a newline): each is an audited 401, never a 500;
    no counter is made per name, and the address's counter shuts the door as for any name."""
    world = World(tmp_path, postgres_url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                  f"db+sqlite:///{tmp_path / 'results.sqlite'}")
    try:
        names = ["po\x00lice", "POLICE", "police\n", "-police"]
        most = 4 * world.settings.login_failures
        statuses = [world.client.post("/token", data={
            "grant_type": "password", "username": names[n % len(names)],
            "password": "wrong guess"}).status_code for n in range(most + 1)]
        assert statuses == [401] * most + [429]
        with world.svc.session() as session:
            assert session.get(LoginTries, ("client", "testclient")).tries == most
            assert all(session.get(LoginTries, ("account", name)) is None for name in names[1:])
    finally:
        world.close()
