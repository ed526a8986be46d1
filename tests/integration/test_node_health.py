"""A node's own processes serve health, readiness and metrics when configured: `node run`
(per-camera frames, detection latency, redaction backlog, the privacy budget left, free disk)
scraped over HTTP while it runs, and `node worker` (readiness names the broker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
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
privacy_budget = {{period_epsilon = 6.5}}
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


def test_a_camera_down_at_start_is_retried_while_the_others_run(tmp_path: Path,
                                                                model_dir: Path) -> None:
    """Three cameras: one works, one's file is not there yet (it appears later), one's stream
    refuses the connection (nothing listens). The node runs the working one to its end, shows
    the other two down in health, picks up the file when it appears, and keeps retrying the
    refusing stream instead of ending."""
    from simulation.synthetic import SceneSpec, write_scene_video

    port, refused = free_port(), free_port()
    late = tmp_path / "late.mp4"
    config = tmp_path / "node.toml"
    config.write_text(f"""
site_id = "site-7"
data_dir = "{tmp_path / 'data'}"
model_dir = "{model_dir}"
health_port = {port}
reconnect_attempts = 0
reconnect_backoff_seconds = 0.5
[[cameras]]
id = "street"
source = "synthetic:seed=2,seconds=2,width=320,height=180,people=2,vehicles=1,fps=10"
[[cameras]]
id = "late"
source = "{late}"
[[cameras]]
id = "refused"
source = "tcp://127.0.0.1:{refused}/stream"
""")
    log = tmp_path / "node.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*SAFECITY, "node", "run", "--config", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def checks_until(done: Callable[[dict[str, str]], bool]) -> dict[str, str]:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()  # the node keeps running
            checks = httpx.get(f"{base}/readyz", timeout=5).json()["checks"]
            if done(checks):
                return checks
            time.sleep(0.2)
        raise AssertionError(f"health never showed it: {checks}")

    try:
        wait_for(base, process, log)
        down = checks_until(lambda c: c["street"] == "stopped"
                            and c["late"].startswith("down:") and c["refused"].startswith("down:"))
        assert f"{late}: no such file; retrying in " in down["late"]
        assert "refused" in down["refused"].lower() and "retrying in " in down["refused"]
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 503  # not all cameras up
        spec = SceneSpec(width=320, height=180, seconds=1, people=1, vehicles=1, seed=5)
        write_scene_video(tmp_path / "late.partial.mp4", spec)
        (tmp_path / "late.partial.mp4").rename(late)  # the file appears, whole
        up = checks_until(lambda c: c["late"] == "stopped")
        assert up["refused"].startswith("down:") and up["street"] == "stopped"
        with av.open(str(tmp_path / "data" / "redacted" / "late.mp4")) as container:
            assert container.streams.video[0].frames == spec.frame_count
        assert (tmp_path / "data" / "redacted" / "street.mp4").exists()
        assert "camera refused is down" in log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
