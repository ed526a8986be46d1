"""A node's own processes serve health, readiness and metrics when configured: `node run`
(per-camera frames, detection latency, redaction backlog, the privacy budget left, free disk)
scraped over HTTP while it runs, and `node worker` (readiness names the broker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.served import free_port

SAFECITY = [sys.executable, "-c", "from nodes.cli import main; main()"]


def metrics(base: str) -> dict[str, list]:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def wait_for(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the node served no health endpoint")


def test_node_run_serves_health_and_camera_metrics(tmp_path: Path, model_dir: Path) -> None:
    port = free_port()
    config = tmp_path / "node.toml"
    config.write_text(f"""
site_id = "site-7"
data_dir = "{tmp_path / 'data'}"
model_dir = "{model_dir}"
health_port = {port}
privacy_epsilon = 6.5
[[cameras]]
id = "gate"
source = "synthetic:seed=2,seconds=3600,width=320,height=180,people=2,vehicles=1,fps=10"
""")
    log = tmp_path / "node.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*SAFECITY, "node", "run", "--config", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base, process, log)
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"] == {"gate": "ok"}
        first = metrics(base)
        time.sleep(3)
        later = metrics(base)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

    def total(family: dict[str, list], name: str, suffix: str = "") -> float:
        return sum(s.value for s in family[name] if s.name.endswith(suffix)
                   and s.labels.get("camera", "gate") == "gate")

    frames = total(later, "safecity_camera_frames", "_total")
    assert frames > total(first, "safecity_camera_frames", "_total") >= 0 and frames > 0
    assert total(later, "safecity_detection_seconds", "_count") >= frames / 4 - 2
    assert "safecity_redaction_backlog_frames" in later
    assert total(later, "safecity_camera_reconnects", "_total") == 0
    assert total(later, "safecity_node_epsilon_left") == 6.5
    assert total(later, "safecity_node_disk_free_bytes") > 0


def test_node_worker_readiness_names_the_broker(tmp_path: Path) -> None:
    from tests.support.world import embedded_world

    world = embedded_world(tmp_path)
    try:
        port = free_port()
        node = world.add_node("alpha", "site-a", extra=f"worker_health_port = {port}\n")
        world.start_worker("alpha")
        base = f"http://127.0.0.1:{port}"
        wait_for(base, node.process, tmp_path / f"{node.node_id}.log")
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["checks"] == {"broker": "ok"}
        assert "safecity_node_epsilon_left" in metrics(base)
    finally:
        world.close()
