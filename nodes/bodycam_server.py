"""The site's upload endpoint for body-worn cameras (``safecity node uploads``):
``POST /bodycam/clips`` with the clip as the body (``Content-Length`` required, at most
``bodycam_max_mb``) and the device's signed claim in two headers (``nodes.bodycam_claim``).
201 with what was kept; an error is an RFC 9457 problem (``application/problem+json``) with a
stable ``code``, and nothing of the clip stays. The body is read only once the headers
hold: a ``Content-Length`` of at most ``bodycam_max_mb``, a claim signed by an enrolled device,
sent now, for exactly that many bytes; it is then streamed to a private file while hashed
(never whole in memory), at most ``slots`` uploads at once (503 with ``Retry-After`` beyond),
each socket silent for at most ``read_timeout`` seconds (408; a body that ends early is
400 ``short_read``). Served on ``bodycam_host`` (the site's own
network; TLS is the reverse proxy's, as for the coordinator)."""

from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kernel.errors import SafecityError
from kernel.problems import MEDIA_TYPE
from nodes.bodycam_claim import CLAIM_HEADER, SIGNATURE_HEADER, ClipRefused
from nodes.bodycam_ingest import ClipIntake

log = logging.getLogger(__name__)
PATH = "/bodycam/clips"
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          409: "Conflict", 411: "Length required", 413: "Content too large",
          408: "Request timeout", 422: "Unprocessable content",
          500: "Internal server error", 503: "Service unavailable"}


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """One warning line, not socketserver's traceback on stderr: a caller that hangs up
        or stalls is the network's doing, not the node's."""
        failure = sys.exc_info()[1]
        log.warning("body-worn upload connection from %s failed: %s", client_address[0],
                    type(failure).__name__)


SLOTS = 2  # uploads read at once: the redactor takes one clip at a time anyway
READ_TIMEOUT = 30.0  # seconds a socket may stay silent, headers or body
RETRY_AFTER = 30  # seconds, when every slot is taken


class UploadServer:
    def __init__(self, intake: ClipIntake, host: str, port: int, slots: int = SLOTS,
                 read_timeout: float = READ_TIMEOUT):
        uploads = threading.BoundedSemaphore(slots)
        server = self
        self.receiving = 0  # uploads holding a slot now (health, and tests that fill the slots)
        counting = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            timeout = read_timeout  # set on the socket by StreamRequestHandler.setup

            def do_POST(self) -> None:
                try:
                    self._post()
                except (BrokenPipeError, ConnectionResetError) as exc:
                    # the caller went away mid-answer: nothing to tell it, nothing kept
                    self.close_connection = True
                    log.warning("body-worn upload connection lost: %s", type(exc).__name__)

            def _post(self) -> None:
                if self.path.split("?", 1)[0] != PATH:
                    self._problem(ClipRefused("not_found", 404, f"uploads go to {PATH}"))
                    return
                length = self.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    self._problem(ClipRefused("length_required", 411,
                                              "an upload states its Content-Length"))
                    return
                if int(length) > intake.max_bytes:
                    self._problem(ClipRefused("too_large", 413, f"the clip is {length} bytes, "
                                              f"more than {intake.max_bytes}"))
                    return
                try:  # the signed claim first: an unsigned body is never read
                    claim = intake.claimed(self.headers.get(CLAIM_HEADER),
                                           self.headers.get(SIGNATURE_HEADER), int(length))
                except ClipRefused as refused:
                    self._problem(refused)
                    return
                if not uploads.acquire(blocking=False):
                    self._problem(ClipRefused("busy", 503, f"{slots} uploads are being "
                                              "received; try again later"),
                                  {"Retry-After": str(RETRY_AFTER)})
                    return
                with counting:
                    server.receiving += 1
                try:
                    kept = intake.receive(claim, self.rfile)
                except ClipRefused as refused:
                    self._problem(refused)
                    return
                except SafecityError as exc:  # the vault full, the log unwritable: say so
                    self._problem(ClipRefused("not_kept", 500, f"the clip was not kept: {exc}"))
                    return
                finally:
                    with counting:
                        server.receiving -= 1
                    uploads.release()
                self._send(201, "application/json", {k: v for k, v in kept.items()
                                                     if k != "redacted"})

            def _problem(self, refused: ClipRefused, headers: dict[str, str] | None = None
                         ) -> None:
                # whatever of the body was not read is never read: the connection ends
                self.close_connection = True
                self._send(refused.status, MEDIA_TYPE, {
                    "type": "about:blank", "title": TITLES.get(refused.status, "Error"),
                    "status": refused.status, "detail": refused.detail, "code": refused.code,
                    "instance": PATH}, headers or {})

            def _send(self, status: int, kind: str, body: dict[str, Any],
                      headers: dict[str, str] | None = None) -> None:
                encoded = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(encoded)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, format: str, *args: object) -> None:
                pass  # refusals and takes are logged by the intake, with their reasons

        self._server = _Server((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="bodycam-uploads")

    def __enter__(self) -> UploadServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def serve_forever(self) -> None:
        self._server.serve_forever()
