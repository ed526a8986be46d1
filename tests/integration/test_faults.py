"""Fault injection: each scenario breaks a real part (a process killed, a server stopped, a
full disk, a skewed clock, an impostor key) and states the outcome it expects: a precise
refusal or problem, no 500, nothing lost or half-written, the audit log still verifying.

Other scenarios live beside the feature they break and are counted with these:
a broker restarted mid-query and a node worker SIGKILLed mid-search (test_watchlist_e2e.py),
the audit writer SIGKILLed mid-batch (test_audit_processes.py), a Flower SuperNode SIGKILLed
mid-round (test_federated.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from audit.records import Action
from audit.verify import verify_bundle
from privacy.signing import SigningKey
from tests.support import tally
from tests.support.postgres_server import PostgresServer
from tests.support.problem_details import problem
from tests.support.served import free_port
from tests.support.world import PASSWORD, T0, World, embedded_world, stop


def verified(world: World) -> list:
    """The coordinator's audit log checks out end to end; its records."""
    bundle = world.svc.audit.bundle()
    report = verify_bundle(bundle, world.svc.keys.log.verifier)
    assert report.ok, report.problems
    return [entry.record for entry in world.svc.audit.entries(0, 100_000)]


@pytest.fixture
def postgres():
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


def test_postgresql_restart_gives_503s_then_recovers_without_a_coordinator_restart(
        tmp_path: Path, postgres: PostgresServer) -> None:
    """Expected: while the database is down every request is a 503 problem
    (``database_unavailable`` or ``audit_unavailable``), never a 500; nothing is half-done; when
    the database is back the same coordinator process serves again and its log verifies."""
    world = World(tmp_path, postgres.url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                  f"db+sqlite:///{tmp_path / 'results.sqlite'}")
    try:
        world.add_node("alpha", "site-a")
        before = world.draft()
        headers = world.as_("police")
        postgres.stop("immediate")  # a crash: connections cut, no clean shutdown
        down = world.client.post("/warrants", headers=headers, json={"kind": "plate_watchlist"})
        problem(down, 503, "database_unavailable")
        assert down.headers["retry-after"]
        problem(world.client.get("/warrants", headers=headers), 503, "database_unavailable")
        problem(world.client.get("/audit/checkpoint"), 503, "database_unavailable")
        # an anonymous denial is counted in the database, so it cannot be either
        problem(world.client.get("/warrants"), 503, "database_unavailable")
        postgres.start()
        after = world.draft()
        listed = world.client.get("/warrants", headers=world.as_("police")).json()
        assert {w["warrant_id"] for w in listed} >= {before["warrant_id"], after["warrant_id"]}
        drafted = [r for r in verified(world) if r.action is Action.WARRANT_DRAFTED]
        assert len(drafted) == 2
        tally.add("fault scenarios")
    finally:
        world.close()


# -- the coordinator killed --------------------------------------------------------------------

SAFECITY = [sys.executable, "-c", "from nodes.cli import main; main()"]


@contextmanager
def coordinator_process(world: World, port: int, extra: str = ""
                        ) -> Iterator[subprocess.Popen]:
    """`safecity coordinator serve` on the world's database, keys and broker (``extra``: more
    config lines)."""
    config = world.root / "coordinator-serve.toml"
    config.write_text(world.config_text() + f'port = {port}\n'
                      f'metrics_address = "127.0.0.1:{free_port()}"\n'
                      f'query_timeout_seconds = {world.query_timeout}\n{extra}')
    log = open(world.root / "coordinator-serve.log", "ab")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen([*SAFECITY, "coordinator", "serve", "--config", str(config)],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (world.root / "coordinator-serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/audit/checkpoint", timeout=2).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the coordinator did not start"
            time.sleep(0.1)
        yield process
    finally:
        stop(process)
        log.close()


def bearer(base: str, username: str) -> dict[str, str]:
    token = httpx.post(f"{base}/token", data={"grant_type": "password", "username": username,
                                              "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_coordinator_sigkilled_mid_query_loses_no_answer(tmp_path: Path) -> None:
    """Expected: a query dispatched before the coordinator is SIGKILLed is answered by the node
    meanwhile and collected by the restarted coordinator; the log verifies, each step once."""
    world = embedded_world(tmp_path)
    try:
        world.add_node("alpha", "site-a")
        world.service("alpha").sightings.add("gate", T0 - timedelta(days=1), 1, "AB12CDE")
        warrant = world.registered()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with coordinator_process(world, port) as server:
            police = bearer(base, "police")
            sent = httpx.post(f"{base}/queries", headers=police, timeout=30, json={
                "warrant_id": warrant["warrant_id"], "targets": ["AB12 CDE"]})
            assert sent.status_code == 202, sent.text
            assert sent.json()["nodes"][0]["status"] == "pending"
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        world.start_worker("alpha")  # answers into the result store while no coordinator runs
        with coordinator_process(world, port):
            view = httpx.get(f"{base}/queries/{sent.json()['query_id']}", params={"wait": 25},
                             headers=bearer(base, "police"), timeout=40).json()
        assert view["nodes"][0]["status"] == "answered", view
        assert len(view["hits"]) == 1 and view["hits"][0]["camera"] == "gate"
        actions = [r.action for r in verified(world)]
        assert actions.count(Action.QUERY_DISPATCHED) == 1
        assert actions.count(Action.QUERY_ANSWERED) == 1
        tally.add("fault scenarios")
    finally:
        world.close()


def test_coordinator_sigkilled_mid_audit_append_keeps_every_acknowledged_entry(
        tmp_path: Path) -> None:
    """Expected: requests that each append an entry (a signed-in person's denials; anonymous
    ones are counted instead) hammer the coordinator while it is
    SIGKILLed; every denial a client received is in the log, the restarted coordinator accepts
    the database (its head check passes) and appends on top, and the log verifies."""
    world = embedded_world(tmp_path)
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        acknowledged = []
        stop_at = threading.Event()

        def hammer(police: dict[str, str]) -> None:
            with httpx.Client(base_url=base, timeout=5, headers=police) as client:
                while not stop_at.is_set():
                    try:
                        if client.get("/webhooks").status_code == 403:
                            acknowledged.append(1)
                    except httpx.TransportError:
                        return

        before = sum(1 for r in verified(world) if r.action is Action.ACCESS_DENIED)
        with coordinator_process(world, port) as server:
            police = bearer(base, "police")
            threads = [threading.Thread(target=hammer, args=(police,)) for _ in range(4)]
            for thread in threads:
                thread.start()
            while len(acknowledged) < 40:
                time.sleep(0.01)
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            stop_at.set()
            for thread in threads:
                thread.join(timeout=10)
        with coordinator_process(world, port):
            assert httpx.get(f"{base}/webhooks", headers=police).status_code == 403  # and after
        denied = sum(1 for r in verified(world) if r.action is Action.ACCESS_DENIED) - before
        assert denied >= len(acknowledged) + 1, (denied, len(acknowledged))
        tally.add("fault scenarios")
    finally:
        world.close()


# -- a node's disk full --------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 12 MB filesystem (tmpfs), so writes fail with ENOSPC as on a full disk."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m,mode=0700", "tmpfs",
                           str(mount)], check=False, capture_output=True, text=True)
    assert done.returncode == 0, f"cannot mount a tmpfs (root needed): {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take every free byte of ``disk`` but about ``leave``."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            while shutil.disk_usage(disk).free - size >= leave:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_at_a_node_fails_clearly_and_loses_no_recording(small_disk: Path,
                                                                     model_dir: Path) -> None:
    """Expected: (1) with the disk nearly full, the vault refuses new segments before it eats
    the reserve kept for the audit log: exit 1, "the disk holding the vault is full", no
    traceback; (2) with no reserve and the disk filling up during a recording, the write fails
    with ENOSPC: exit 1, "No space left on device", no half-written segment; in both cases the
    earlier recording stays intact (`vault check` passes) and recording works once space is
    freed."""
    config = small_disk.parent / "node.toml"

    def configure(reserve_mb: int) -> None:
        config.write_text(f"""
site_id = "site-9"
data_dir = "{small_disk / 'data'}"
model_dir = "{model_dir}"
segment_seconds = 0.5
vault_reserve_mb = {reserve_mb}
[[cameras]]
id = "gate"
source = "synthetic:seed=3,seconds=1,width=160,height=120,people=1,vehicles=0,fps=10"
""")

    def safecity(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*SAFECITY, *args, "--config", str(config)], check=False,
                              capture_output=True, text=True, timeout=300)

    def segments() -> int:
        return len(list((small_disk / "data" / "vault" / "segments").glob("*")))

    configure(reserve_mb=4)
    assert safecity("vault", "init").returncode == 0
    first = safecity("vault", "record", "--camera", "gate")
    assert first.returncode == 0, first.stderr
    recorded = segments()
    assert recorded == 2
    filler = fill(small_disk, leave=2 * 2**20)
    refused = safecity("vault", "record", "--camera", "gate")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "the disk holding the vault is full" in refused.stderr, refused.stderr
    assert segments() == recorded
    filler.unlink()

    configure(reserve_mb=0)
    filler = fill(small_disk, leave=24 * 2**10)
    full = safecity("vault", "record", "--camera", "gate")
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
    assert "No space left on device" in full.stderr or "disk holding the vault is full" in \
        full.stderr, full.stderr
    filler.unlink()
    check = safecity("vault", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    again = safecity("vault", "record", "--camera", "gate")
    assert again.returncode == 0, again.stderr
    assert safecity("vault", "check").returncode == 0
    tally.add("fault scenarios")


# -- a node that answers with a key it was not enrolled with -----------------------------------

def test_an_answer_signed_with_a_forged_node_key_is_refused(tmp_path: Path) -> None:
    """Expected: a node worker whose identity key was replaced (an impostor, or a compromised
    site re-keyed by an attacker) answers; the coordinator finds the signature is not the
    enrolled key's, marks the node `failed` / `bad_signature`, shows no hits, and logs it."""
    world = embedded_world(tmp_path)
    try:
        node = world.add_node("alpha", "site-a")
        world.service("alpha").sightings.add("gate", T0 - timedelta(days=1), 1, "AB12CDE")
        world.service("alpha").close()
        world.nodes["alpha"].service = None
        (node.settings.keys_dir / "identity.key").unlink()  # the attacker's own key instead
        SigningKey.generate().save(node.settings.keys_dir / "identity.key")
        world.start_worker("alpha")
        warrant = world.registered()
        sent = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": warrant["warrant_id"], "targets": ["AB12 CDE"]})
        assert sent.status_code == 202, sent.text
        view = world.client.get(f"/queries/{sent.json()['query_id']}", params={"wait": 25},
                                headers=world.as_("police")).json()
        part = view["nodes"][0]
        assert (part["status"], part["reason"]) == ("failed", "bad_signature"), view
        assert view["hits"] == [] and part["hits"] == 0
        answered = [r for r in verified(world) if r.action is Action.QUERY_ANSWERED]
        assert [r.outcome for r in answered] == ["failed"]
        tally.add("fault scenarios")
    finally:
        world.close()
