"""The door SuperNodes on other hosts come through: only Flower's Fleet API.

Flower's SuperLink serves its Fleet API (what SuperNodes call), its Control API (start a run,
register a SuperNode key, read logs) and its runtime API on one port, and the Control API
takes anyone who can reach it. A site that could reach it could register keys or start a run
with an app of its own choosing on the coordinator. So the SuperLink listens on loopback only,
and sites reach this gateway instead: over TLS, it forwards ``POST /v1/fleet/<call>`` to the
SuperLink (verified against the city CA) and answers everything else 404."""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FLEET_CALL = re.compile(r"[a-z][a-z-]{0,63}")
_HOP_BY_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding",
               "upgrade", "te", "trailer", "proxy-authorization", "proxy-authenticate"}
MAX_BODY = 64 * 1024 * 1024  # a model update of the largest task, with room to spare


def _headers(headers: httpx.Headers | dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}


def fleet_gateway(superlink: str, ca_certificate: Path) -> Starlette:
    """An app forwarding Fleet API calls to the SuperLink at ``superlink`` (host:port, TLS)."""
    tls = ssl.create_default_context(cafile=str(ca_certificate))

    async def forward(request: Request) -> Response:
        call = request.path_params["call"]
        if not FLEET_CALL.fullmatch(call):
            return _refused()
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"detail": "request too large"}, status_code=413)
        try:
            answer = await request.app.state.upstream.post(
                f"/v1/fleet/{call}", content=body, headers=_headers(dict(request.headers)))
        except httpx.TransportError:
            return JSONResponse({"detail": "the SuperLink is unavailable"}, status_code=503)
        return Response(answer.content, status_code=answer.status_code,
                        headers=_headers(answer.headers))

    async def refuse(_: Request) -> Response:
        return _refused()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=f"https://{superlink}", timeout=120,
                                     verify=tls) as upstream:
            app.state.upstream = upstream
            yield

    return Starlette(routes=[
        Route("/v1/fleet/{call}", forward, methods=["POST"]),
        Route("/{path:path}", refuse, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ], lifespan=lifespan)


def _refused() -> Response:
    return JSONResponse({"detail": "only the Fleet API is served here"}, status_code=404)
