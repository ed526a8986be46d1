"""``POST /token``: OAuth2 password flow for people, signed assertions for nodes.

Password tries are counted per account and per address before they are checked; past the
limit the door stays shut for the rest of the window (429 with ``Retry-After``), and every
failure and lock-out is audited. A node's assertion is good for one token: its ``jti`` is
remembered until it expires.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Form, Request

from coordinator.auth import ANONYMOUS, AUDIENCE, deny, new_token, password_login, service
from coordinator.db import Node
from coordinator.errors import Problem
from coordinator.roles import Role
from coordinator.service import Coordinator
from coordinator.token_ids import JTI, node_issuer, spend
from privacy.signing import VerifyKey
from privacy.tokens import TokenError, unverified_header, verify

router = APIRouter(tags=["tokens"])

PASSWORD = "password"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_SECONDS = 300  # a node's assertion must expire this soon (its jti is kept as long)


@router.post("/token", summary="Get a bearer token (OAuth2 password flow, or a node assertion)")
def token(request: Request, grant_type: str = Form(...), username: str = Form(""),
          password: str = Form("", max_length=1024), assertion: str = Form("", max_length=4096),
          svc: Coordinator = Depends(service)) -> dict[str, Any]:
    if grant_type == PASSWORD:
        return password_login(request, svc, username[:64], password)
    if grant_type == JWT_BEARER:
        return _node(request, svc, assertion)
    raise Problem(400, "Unsupported grant type", f"grant_type must be {PASSWORD!r} or "
                  f"{JWT_BEARER!r}", "unsupported_grant_type")


def _node(request: Request, svc: Coordinator, assertion: str) -> dict[str, Any]:
    try:
        node_id = str(unverified_header(assertion).get("kid", ""))
    except TokenError as exc:
        raise deny(svc, request, ANONYMOUS, 401, "bad_assertion", str(exc)) from None
    with svc.session() as session:
        node = session.get(Node, node_id[:128])
        key = node.identity_key if node and node.active else None
        site = node.site_id if node else ""
    if key is None:
        raise deny(svc, request, ANONYMOUS, 401, "unknown_node",
                   f"no enrolled node {node_id[:64]!r}")
    now = int(svc.clock().timestamp())
    try:
        claims = verify(assertion, VerifyKey.parse(key), AUDIENCE + "/token", now)
    except TokenError as exc:
        raise deny(svc, request, ANONYMOUS, 401, "bad_assertion", str(exc)) from None
    if claims.get("sub") != node_id or claims["exp"] - now > MAX_ASSERTION_SECONDS:
        raise deny(svc, request, ANONYMOUS, 401, "bad_assertion",
                   "the assertion must name the node as subject and expire within 5 minutes")
    jti = claims.get("jti")
    if not isinstance(jti, str) or re.fullmatch(JTI, jti) is None:
        raise deny(svc, request, ANONYMOUS, 401, "bad_assertion",
                   "the assertion must carry a unique jti (1 to 128 visible ASCII characters)")
    if not spend(svc, node_issuer(node_id), jti, claims["exp"]):
        raise deny(svc, request, ANONYMOUS, 401, "assertion_replayed",
                   "this assertion was already used; sign a new one with a fresh jti",
                   {"node": node_id})
    minutes = svc.settings.node_token_minutes
    return {"access_token": new_token(svc, node_id, Role.NODE.value, site, minutes),
            "token_type": "bearer", "expires_in": 60 * minutes, "role": Role.NODE.value}
