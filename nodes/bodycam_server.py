"""The site's upload endpoint for body-worn cameras (``safecity node uploads``):
``POST /bodycam/clips`` with the clip as the body (``Content-Length`` required, at most
``bodycam_max_mb``) and the device's signed claim in two headers (``nodes.bodycam_claim``).
201 with what was kept; an error is an RFC 9457 problem (``application/problem+json``) with a
stable ``code``, and nothing of the clip stays. A larger clip is refused from its
``Content-Length`` before its body is read. Served on ``bodycam_host`` (the site's own
network; TLS is the reverse proxy's, as for the coordinator)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kernel.errors import SafecityError
from kernel.problems import MEDIA_TYPE
from nodes.bodycam_claim import CLAIM_HEADER, SIGNATURE_HEADER, ClipRefused
from nodes.bodycam_ingest import ClipIntake

PATH = "/bodycam/clips"
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          409: "Conflict", 411: "Length required", 413: "Content too large",
          422: "Unprocessable content", 500: "Internal server error"}


class UploadServer:
    def __init__(self, intake: ClipIntake, host: str, port: int):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] != PATH:
                    self._problem(ClipRefused("not_found", 404, f"uploads go to {PATH}"))
                    return
                length = self.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    self._problem(ClipRefused("length_required", 411,
                                              "an upload states its Content-Length"))
                    return
                if int(length) > intake.max_bytes:
                    self.close_connection = True  # the body is not read
                    self._problem(ClipRefused("too_large", 413, f"the clip is {length} bytes, "
                                              f"more than {intake.max_bytes}"))
                    return
                data = self.rfile.read(int(length))
                try:
                    kept = intake.upload(self.headers.get(CLAIM_HEADER),
                                         self.headers.get(SIGNATURE_HEADER), data)
                except ClipRefused as refused:
                    self._problem(refused)
                    return
                except SafecityError as exc:  # the vault full, the log unwritable: say so
                    self._problem(ClipRefused("not_kept", 500, f"the clip was not kept: {exc}"))
                    return
                self._send(201, "application/json", {k: v for k, v in kept.items()
                                                     if k != "redacted"})

            def _problem(self, refused: ClipRefused) -> None:
                self._send(refused.status, MEDIA_TYPE, {
                    "type": "about:blank", "title": TITLES.get(refused.status, "Error"),
                    "status": refused.status, "detail": refused.detail, "code": refused.code,
                    "instance": PATH})

            def _send(self, status: int, kind: str, body: dict[str, Any]) -> None:
                encoded = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(encoded)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, format: str, *args: object) -> None:
                pass  # refusals and takes are logged by the intake, with their reasons

        self._server = ThreadingHTTPServer((host, port), Handler)
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
