"""An app served over real HTTP(S): uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from coordinator.app import create_app
from coordinator.service import Coordinator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(svc: Coordinator) -> Iterator[str]:
    """The coordinator's app on a loopback port for as long as the block runs; its base URL."""
    with serving_app(create_app(svc)) as base:
        yield base


@contextmanager
def serving_app(app: Any, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """``app`` on a loopback port (HTTPS with ``tls``: certificate and key); its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning",
        ssl_certfile=tls[0] if tls else None, ssl_keyfile=tls[1] if tls else None,
        # A page a test leaves open holds its live feed (server-sent events) open: without a
        # limit uvicorn waits for the browser to hang up, the join below gives up after 10 s
        # and the server goes on polling the database of a world already closed.
        timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
