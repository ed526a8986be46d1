"""Federated learning on Flower's deployment engine, for real: a SuperLink and two SuperNodes
as separate processes on loopback (no Ray, no runtime installs), `flwr run` submitting the
safecity Flower App; nodes train the digits task with DP-SGD (Opacus) and answer through SecAgg+;
each node's privacy ledger records the epsilon the run spent there."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import coordinator.learning

pytestmark = pytest.mark.slow
APP = Path(coordinator.learning.__file__).parent / "flower_app"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def federation(tmp_path: Path):
    env = {**os.environ, "FLWR_HOME": str(tmp_path / "flwr"),
           "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
           # the SuperLink and SuperNodes start flower-superexec and the apps by name
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    port = free_port()
    (tmp_path / "flwr").mkdir()
    (tmp_path / "flwr" / "config.toml").write_text(
        f'[superlink]\ndefault = "city"\n\n[superlink.city]\naddress = "127.0.0.1:{port}"\n'
        'insecure = true\n')
    logs, processes = [], []

    def start(name: str, *args: str) -> None:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        logs.append(log)
        processes.append(subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=log,
                                          stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True))

    start("superlink", "flower-superlink", "--insecure",
          "--disable-runtime-dependency-installation", "--port", str(port))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    nodes = []
    for index in range(2):
        data = tmp_path / f"site-{index}"
        config = tmp_path / f"site-{index}.toml"
        config.write_text(f'site_id = "site-{index}"\ndata_dir = "{data}"\n'
                          "privacy_epsilon = 10.0\n")
        start(f"supernode-{index}", "flower-supernode", "--insecure", "--superlink",
              f"127.0.0.1:{port}", "--port", str(free_port()), "--node-config",
              f'safecity-config="{config}" partition-id={index} num-partitions=2')
        nodes.append(data)
    yield env, nodes, tmp_path
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    for log in logs:
        log.close()


def spent(data_dir: Path) -> float:
    with sqlite3.connect(data_dir / "privacy-ledger.sqlite") as db:
        return float(db.execute("SELECT COALESCE(SUM(epsilon), 0) FROM spends").fetchone()[0])


def test_a_dp_training_with_secure_aggregation_completes_and_is_accounted(federation) -> None:  # type: ignore[no-untyped-def]
    env, nodes, root = federation
    results = root / "results.json"
    done = subprocess.run(
        [str(BIN / "flwr"), "run", str(APP), "city", "--stream", "--run-config",
         f'rounds=2 epsilon=3.0 run="test" results="{results}"'],
        env=env, capture_output=True, text=True, timeout=400, check=False)
    deadline = time.monotonic() + 60
    while not results.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert results.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(results.read_text())
    history = record["history"]
    assert record["secagg"] and [h["round"] for h in history] == [0, 1, 2]
    assert history[-1]["accuracy"] > history[0]["accuracy"] + 0.2  # it learned
    for data_dir in nodes:  # each node spent the run's epsilon, no more
        assert 2.9 <= spent(data_dir) <= 3.0 + 1e-9
    assert history[-1]["node_epsilon"] == [] or max(history[-1]["node_epsilon"]) <= 3.0 + 1e-9
