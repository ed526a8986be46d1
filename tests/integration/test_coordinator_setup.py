"""The coordinator's schema comes from its Alembic migrations, identical to the models on SQLite
and PostgreSQL; its CLI sets up, adds people and serves the API over real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from coordinator.db import Base, make_engine, migrate
from tests.support.served import free_port

SAFECITY = [sys.executable, "-c", "from nodes.cli import main; main()"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coordinator.sqlite'}"
    return request.getfixturevalue("postgres_url")


def test_migrations_build_exactly_the_models_and_run_twice(database: str) -> None:
    engine = make_engine(database)
    migrate(engine)
    migrate(engine)  # idempotent: already at head
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert differences == []
    newest = max(p.name[:4] for p in (Path(migrate.__code__.co_filename).parent / "migrations"
                                      / "versions").glob("[0-9]*.py"))
    assert version == newest
    engine.dispose()


def run(*args: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*SAFECITY, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False)


def test_cli_sets_up_adds_people_and_serves_the_api(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "coordinator.toml").write_text(
        f'data_dir = "{tmp_path / "data"}"\nport = {port}\n'
        f'metrics_address = "127.0.0.1:{free_port()}"\n')
    config = ["--config", str(tmp_path / "coordinator.toml")]
    init = run("coordinator", "init", *config, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    keys = json.loads(init.stdout)
    assert keys["coordinator_key"].startswith("ed25519:") and "+" in keys["log_key"]
    assert oct((tmp_path / "data" / "keys" / "dispatch.key").stat().st_mode & 0o777) == "0o600"
    added = run("coordinator", "add-user", *config, "--username", "admin", "--role", "admin",
                "--agency", "city", "--password-stdin", stdin="correct horse battery\n",
                cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    short = run("coordinator", "add-user", *config, "--username", "ops", "--role", "admin",
                "--agency", "city", "--password-stdin", stdin="short\n", cwd=tmp_path)
    assert short.returncode == 1 and short.stderr.startswith("Error: invalid user: password")
    judge = run("coordinator", "add-user", *config, "--username", "judge-1", "--role", "judge",
                "--agency", "court", "--as", "admin", "--password-stdin",
                stdin="correct horse battery\n", cwd=tmp_path)
    assert judge.returncode == 1 and "signing key" in judge.stderr

    server = subprocess.Popen([*SAFECITY, "coordinator", "serve", *config], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        token = httpx.post(f"{base}/token", data={"grant_type": "password", "username": "admin",
                                                  "password": "correct horse battery"})
        assert token.status_code == 200, token.text
        me = httpx.get(f"{base}/users/me",
                       headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert me.json()["role"] == "admin"
        checkpoint = httpx.get(f"{base}/audit/checkpoint")
        assert checkpoint.text.startswith("city.safecity/audit\n")
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_serve_runs_several_workers_over_https_with_one_audit_history(tmp_path: Path) -> None:
    """`coordinator serve` with workers = 2 and a certificate from `safecity pki`: HTTPS only,
    verified against the city CA; denials (of a signed-in person: each one an entry) appended
    by both workers at once make one log that verifies, with every acknowledged denial in it.
    Metrics are not on the API's port but on the loopback metrics listener, which counts the
    requests of both workers."""
    from concurrent.futures import ThreadPoolExecutor

    from audit.bundle import fetch_bundle
    from audit.note import NoteVerifier
    from audit.verify import verify_bundle

    assert run("pki", "init", "--out", str(tmp_path / "ca"), cwd=tmp_path).returncode == 0
    issued = run("pki", "issue", "--ca", str(tmp_path / "ca"), "--name", "coordinator",
                 "--host", "127.0.0.1", "--out", str(tmp_path / "tls"), cwd=tmp_path)
    assert issued.returncode == 0, issued.stderr
    port, metrics = free_port(), free_port()
    config = tmp_path / "coordinator.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nport = {port}\nworkers = 2\n'
                      f'metrics_address = "127.0.0.1:{metrics}"\n'
                      f'tls_certificate = "{tmp_path / "tls" / "coordinator.pem"}"\n'
                      f'tls_private_key = "{tmp_path / "tls" / "coordinator.key"}"\n')
    keys = json.loads(run("coordinator", "init", "--config", str(config), cwd=tmp_path).stdout)
    added = run("coordinator", "add-user", "--config", str(config), "--username", "admin",
                "--role", "admin", "--agency", "city", "--password-stdin",
                stdin="correct horse battery\n", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    server = subprocess.Popen([*SAFECITY, "coordinator", "serve", "--config", str(config)],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    base = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, verify=str(tmp_path / "ca" / "ca.pem"),
                          timeout=10) as client:
            for _ in range(300):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert client.get("/readyz").json()["status"] == "ready"
            with pytest.raises(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            with pytest.raises(httpx.ConnectError):  # not trusted without the city CA
                httpx.get(f"{base}/healthz", timeout=5)
            token = client.post("/token", data={"grant_type": "password", "username": "admin",
                                                "password": "correct horse battery"})
            admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
            with ThreadPoolExecutor(8) as pool:  # an admin may not read warrants
                statuses = list(pool.map(
                    lambda _: client.get("/warrants", headers=admin).status_code, range(60)))
            assert statuses == [403] * 60
            bundle = fetch_bundle(lambda path: client.get(path).json())
            assert client.get("/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=30).text
        denials = re.search(r'^safecity_http_requests_total\{method="GET",route="/warrants",'
                            r'status="403"\} ([\d.]+)$', scraped, re.M)
        assert denials and float(denials.group(1)) == 60, scraped[:3000]
        assert re.search(r"^safecity_audit_log_entries \d+", scraped, re.M), scraped[:3000]
        report = verify_bundle(bundle, NoteVerifier.from_vkey(keys["log_key"]))
        assert report.ok, report.problems
        denied = [e for e in bundle.entries if b'"access_denied"' in e.data]
        assert len(denied) >= 60
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
