"""`coordinator serve` stops on SIGTERM while a control room keeps its alert feed open.

An event stream never ends by itself; uvicorn's graceful shutdown waits for every open
connection, so without a limit a browser left on the control room would hold a stop (systemd's,
a deploy's) until it is killed."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

import httpx

from tests.integration.test_faults import bearer, coordinator_process
from tests.support.served import free_port
from tests.support.world import embedded_world


def test_sigterm_stops_the_api_with_an_alert_feed_open(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with coordinator_process(world, port) as process:
            headers = bearer(base, "operator")
            opened = threading.Event()

            def watch() -> None:  # a control room's browser: the feed held open
                try:
                    with httpx.stream("GET", f"{base}/alerts/stream", headers=headers,
                                      timeout=httpx.Timeout(5, read=None)) as feed:
                        assert feed.status_code == 200
                        opened.set()
                        for _ in feed.iter_bytes():
                            pass
                except httpx.HTTPError:
                    pass  # the server went away: what a stop does to a browser

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            assert opened.wait(30), "the alert feed did not open"
            process.send_signal(signal.SIGTERM)
            try:  # a generous bound: without the limit it never exits while the feed is open
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise AssertionError("serve kept running with an event stream open") from None
            # uvicorn re-raises the SIGTERM it handled once it has stopped
            assert process.returncode in (0, -signal.SIGTERM), process.returncode
    finally:
        world.close()
