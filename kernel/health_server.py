"""Liveness, readiness and Prometheus metrics over HTTP for a process that has no web server of
its own (a node, a Celery worker): ``/healthz``, ``/readyz`` (each check "ok" or why not; 503
when one fails) and ``/metrics``. It binds to loopback unless told otherwise and answers
nothing else."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from kernel.connection_failures import unavailable

Checks = Callable[[], dict[str, str]]


class HealthServer:
    def __init__(self, host: str, port: int, registry: CollectorRegistry, checks: Checks):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._send(200, "application/json", b'{"status": "ok"}')
                elif path == "/readyz":
                    found = outer.checks()
                    ready = all(v == "ok" for v in found.values())
                    body = {"status": "ready" if ready else "not ready", "checks": found}
                    self._send(200 if ready else 503, "application/json",
                               json.dumps(body).encode())
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                else:
                    self._send(404, "application/json", b'{"status": "not found"}')

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes every few seconds: not worth a log line each

        self.checks = checks
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="health")

    def __enter__(self) -> HealthServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def probes(**probes: Callable[[], object]) -> Checks:
    """Readiness checks from probes that raise when what they try is unavailable; a probe is
    named after its setting less `_url` (`broker`: `broker_url`), which a failure names."""
    def checks() -> dict[str, str]:
        found = {}
        for name, probe in probes.items():
            try:
                probe()
                found[name] = "ok"
            except Exception as exc:
                found[name] = unavailable(exc, f"{name}_url")  # broker_url, database_url
        return found
    return checks
