"""The Fleet API gateway: what sites on other hosts reach of the SuperLink. Fleet calls go
through to an HTTPS upstream verified against the city CA, with their body and headers (the
SuperNode's signed authentication travels in them); the Control and runtime APIs, other
methods and odd names get 404; an upstream that is away is a 503. (The gateway in front of a
real SuperLink, with real SuperNodes through it, is in test_multihost.)"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from coordinator.learning.fleet_gateway import fleet_gateway
from privacy.pki import issue, make_ca
from tests.support.served import serving_app


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "body": (await request.body()).hex(),
                         "auth": request.headers.get("x-flwr-auth")},
                        status_code=201, headers={"x-upstream": "superlink"})


def test_only_fleet_calls_pass(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    tls = issue(ca, tmp_path / "tls", "superlink", ["127.0.0.1"])
    upstream = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])
    with serving_app(upstream, (tls.certificate, tls.key)) as superlink:
        gateway = fleet_gateway(superlink.removeprefix("https://"), ca.certificate)
        with serving_app(gateway, (tls.certificate, tls.key)) as door, httpx.Client(
                base_url=door, verify=ssl.create_default_context(cafile=str(ca.certificate)),
                timeout=30) as site:
            passed = site.post("/v1/fleet/pull-messages", content=b"\x00\x01proto",
                               headers={"x-flwr-auth": "signed", "content-type":
                                        "application/protobuf"})
            assert passed.status_code == 201 and passed.headers["x-upstream"] == "superlink"
            assert passed.json() == {"path": "/v1/fleet/pull-messages",
                                     "body": b"\x00\x01proto".hex(), "auth": "signed"}
            for method, path in (("POST", "/v1/control/start-run"),
                                 ("POST", "/v1/control/register-node"),
                                 ("POST", "/v1/runtime/pull-task-input"),
                                 ("GET", "/v1/fleet/pull-messages"),
                                 ("POST", "/v1/fleet/../control/start-run"),
                                 ("POST", "/v1/fleet/Pull_Messages"),
                                 ("POST", "/v1/fleet/a/b"), ("GET", "/")):
                refused = site.request(method, path)
                assert refused.status_code in (404, 405), (method, path, refused.status_code)
                assert "superlink" not in refused.headers.get("x-upstream", "")
    with serving_app(gateway, (tls.certificate, tls.key)) as door, httpx.Client(
            base_url=door, verify=ssl.create_default_context(cafile=str(ca.certificate))) as site:
        away = site.post("/v1/fleet/pull-messages", content=b"x")
        assert away.status_code == 503 and "unavailable" in away.text


def test_an_upstream_with_another_ca_is_not_trusted(tmp_path: Path) -> None:
    ca, other = make_ca(tmp_path / "ca"), make_ca(tmp_path / "other")
    impostor = issue(other, tmp_path / "tls", "superlink", ["127.0.0.1"])
    upstream = Starlette(routes=[Route("/{path:path}", echo, methods=["POST"])])
    with serving_app(upstream, (impostor.certificate, impostor.key)) as superlink:
        gateway = fleet_gateway(superlink.removeprefix("https://"), ca.certificate)
        with serving_app(gateway) as door:
            assert httpx.post(f"{door}/v1/fleet/pull-messages", content=b"x").status_code == 503
