"""A database or broker that cannot be used: one line naming the setting to fix, a non-zero
exit, nothing half-written (real PostgreSQL, a real password-protected redis-server)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_ADMIN
from tests.integration.test_cli import safecity


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres(database: str) -> str:
    params = dict(item.split("=", 1) for item in PG_ADMIN.split())
    return (f"postgresql+psycopg://{params.get('user', 'postgres')}@"
            f"{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}/{database}")


def test_init_against_a_missing_database_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    name = f"safecity_missing_{uuid.uuid4().hex[:12]}"
    config = tmp_path / "coordinator.toml"
    config.write_text(f'data_dir = "{(tmp_path / "data").as_posix()}"\n'
                      f'database_url = "{_postgres(name)}"\n')
    done = safecity("coordinator", "init", "--config", str(config))
    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        f'Error: database "{name}" does not exist: create it (`createdb {name}` as '
        "PostgreSQL's superuser) or fix the database name in database_url"]
    assert done.stdout == "" and not (tmp_path / "data").exists()  # nothing made


def test_init_against_no_server_names_the_host_and_port(tmp_path: Path) -> None:
    config = tmp_path / "coordinator.toml"
    port = _free_port()  # nothing listens there
    config.write_text(f'data_dir = "{(tmp_path / "data").as_posix()}"\n'
                      f'database_url = "postgresql+psycopg://postgres@127.0.0.1:{port}/x"\n')
    done = safecity("coordinator", "init", "--config", str(config))
    assert done.returncode != 0 and len(done.stderr.splitlines()) == 1
    assert f"connection refused at 127.0.0.1:{port}" in done.stderr
    assert "database_url" in done.stderr


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[int]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
         "--save", "", "--requirepass", "the-right-one"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_wrong_broker_password_reads_as_authentication_failed(
        tmp_path: Path, redis_with_password: int) -> None:
    port = _free_port()
    config = tmp_path / "coordinator.toml"
    config.write_text(f'data_dir = "{(tmp_path / "data").as_posix()}"\nport = {port}\n'
                      f'broker_url = "redis://:wrong@127.0.0.1:{redis_with_password}/0"\n'
                      f'result_backend = "db+sqlite:///{(tmp_path / "r.sqlite").as_posix()}"\n')
    assert safecity("coordinator", "init", "--config", str(config)).returncode == 0
    server = subprocess.Popen(
        [sys.executable, "-c", "from nodes.cli import main; main()", "coordinator", "serve",
         "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = None
        for _ in range(600):
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert ready is not None and ready.status_code == 503
        broker = ready.json()["checks"]["broker"]
        assert broker.startswith("unavailable: authentication failed (")
        assert broker.endswith("fix the user name or password in broker_url")
        assert "wrong" not in ready.text  # /readyz is public: never the URL or its password
        assert ready.json()["checks"]["database"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_wrong_rabbitmq_password_reads_as_authentication_failed() -> None:
    from celery import Celery

    from kernel.health_server import probes

    app = Celery(broker="amqp://guest:wrong@127.0.0.1:5672//")

    def connect() -> None:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)

    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 5672)) != 0:
            pytest.skip("needs RabbitMQ on 5672")
    broker = probes(broker=connect)()["broker"]
    assert broker.startswith("unavailable: authentication failed (")
    assert "ACCESS_REFUSED" in broker and broker.endswith("in broker_url")
