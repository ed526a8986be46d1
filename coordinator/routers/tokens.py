"""``POST /token``: OAuth2 password flow for people, signed assertions for nodes.

Password tries are counted per account and per address before they are checked; past the
limit the door stays shut for the rest of the window (429 with ``Retry-After``), and every
failure and lock-out is audited. A node's assertion is good for one token: its ``jti`` is
remembered until it expires.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request

from coordinator.auth import node_login, password_login, service
from coordinator.errors import Problem
from coordinator.service import Coordinator

router = APIRouter(tags=["tokens"])

PASSWORD = "password"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@router.post("/token", summary="Get a bearer token (OAuth2 password flow, or a node assertion)")
def token(request: Request, grant_type: str = Form(...), username: str = Form(""),
          password: str = Form("", max_length=1024), assertion: str = Form("", max_length=4096),
          svc: Coordinator = Depends(service)) -> dict[str, Any]:
    if grant_type == PASSWORD:
        return password_login(request, svc, username[:64], password)
    if grant_type == JWT_BEARER:
        return node_login(request, svc, assertion)
    raise Problem(400, "Unsupported grant type", f"grant_type must be {PASSWORD!r} or "
                  f"{JWT_BEARER!r}", "unsupported_grant_type")
