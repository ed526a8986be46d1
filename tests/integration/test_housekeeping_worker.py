"""Housekeeping run by the coordinator worker process on its own schedule (and its beat)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.support.served import free_port
from tests.support.world import embedded_world, stop


def status_within(world, warrant: dict, seconds: float) -> str:  # type: ignore[no-untyped-def]
    """The warrant's status once it is expired, or when ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    status = "registered"
    while time.monotonic() < deadline and status != "expired":
        time.sleep(1)
        status = world.client.get(f"/warrants/{warrant['warrant_id']}",
                                  headers=world.as_("police")).json()["status"]
    return status


def test_the_worker_runs_the_jobs_on_its_own_schedule(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        world.add_node("alpha", "site-a")
        soon = datetime.now(UTC) + timedelta(seconds=8)
        warrant = world.registered(expires_at=soon.isoformat())
        world.start_coordinator_worker("housekeeping_seconds = 5\n", beat=True)
        status = status_within(world, warrant, 90)
        log = (tmp_path / "coordinator-worker.log").read_text(errors="replace")
        assert status == "expired", log
        assert datetime.now(UTC) >= soon  # not before its time
    finally:
        world.close()


def test_a_beat_of_its_own_schedules_the_jobs_and_reports_its_health(tmp_path: Path) -> None:
    """The layout deploy.md describes: workers without --beat, one `coordinator beat`; the beat
    serves /healthz, /readyz (its broker) and /metrics (the jobs it sent, and when)."""
    world = embedded_world(tmp_path)
    beat = None
    try:
        world.add_node("alpha", "site-a")
        soon = datetime.now(UTC) + timedelta(seconds=8)
        warrant = world.registered(expires_at=soon.isoformat())
        world.start_coordinator_worker("housekeeping_seconds = 5\n")
        port = free_port()
        config = tmp_path / "coordinator-beat.toml"
        config.write_text((tmp_path / "coordinator-worker.toml").read_text()
                          + f"beat_health_port = {port}\n")
        log = open(tmp_path / "coordinator-beat.log", "ab")  # noqa: SIM115 - the process owns it
        beat = subprocess.Popen(
            [sys.executable, "-c", "from nodes.cli import main; main()", "coordinator", "beat",
             "--config", str(config), "--loglevel", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        status = status_within(world, warrant, 90)
        assert status == "expired", (tmp_path / "coordinator-beat.log").read_text()
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready",
                                                      "checks": {"broker": "ok"}}
        metrics = httpx.get(f"{base}/metrics").text
        sent = re.search(r'^safecity_beat_scheduled_total\{task="safecity\.coordinator\.'
                         r'housekeeping"\} (\S+)$', metrics, re.M)
        assert sent and float(sent.group(1)) >= 1, metrics
        last = re.search(r"^safecity_beat_last_scheduled_timestamp_seconds (\S+)$", metrics, re.M)
        assert last and abs(float(last.group(1)) - time.time()) < 60
    finally:
        stop(beat)
        world.close()
