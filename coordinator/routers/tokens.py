"""``POST /token``: OAuth2 password flow for people, signed assertions for nodes.

Failed logins are counted per account and per address; past the limit the door stays shut for
the rest of the window (429 with ``Retry-After``), and every failure and lock-out is audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import delete, func, select

from coordinator.auth import ANONYMOUS, AUDIENCE, client_address, deny, new_token, service
from coordinator.db import LoginFailure, Node, User
from coordinator.passwords import check_password
from coordinator.problems import Problem
from coordinator.roles import Role
from coordinator.service import Coordinator
from privacy.signing import VerifyKey
from privacy.tokens import TokenError, unverified_header, verify

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
        return _node(request, svc, assertion)
    raise Problem(400, "Unsupported grant type", f"grant_type must be {PASSWORD!r} or "
                  f"{JWT_BEARER!r}", "unsupported_grant_type")


def password_login(request: Request, svc: Coordinator, username: str, password: str
                   ) -> dict[str, Any]:
    """A token for a person whose password is right, or the (audited) Problem saying why not."""
    settings = svc.settings
    client = client_address(request)
    since = svc.clock() - timedelta(seconds=settings.login_window_seconds)
    with svc.session() as session:
        by_user = session.scalar(select(func.count()).select_from(LoginFailure).where(
            LoginFailure.username == username, LoginFailure.at >= since))
        by_client = session.scalar(select(func.count()).select_from(LoginFailure).where(
            LoginFailure.client == client, LoginFailure.at >= since))
    if by_user >= settings.login_failures or by_client >= 4 * settings.login_failures:
        problem = deny(svc, request, ANONYMOUS, 429, "login_locked",
                       "too many failed logins; try again later", {"user": username})
        problem.headers["Retry-After"] = str(settings.login_window_seconds)
        raise problem
    with svc.session() as session:
        user = session.get(User, username)
        ok = check_password(user.password_hash if user else None, password)
        if not ok or user is None or not user.active:
            session.add(LoginFailure(username=username, client=client, at=svc.clock()))
        else:
            session.execute(delete(LoginFailure).where(LoginFailure.username == username))
            role, agency = user.role, user.agency
    if not ok or user is None or not user.active:
        raise deny(svc, request, ANONYMOUS, 401, "login_failed",
                   "wrong username or password", {"user": username})
    minutes = settings.token_minutes
    return {"access_token": new_token(svc, username, role, agency, minutes),
            "token_type": "bearer", "expires_in": 60 * minutes, "role": role}


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
    if claims.get("sub") != node_id or claims.get("exp", 0) - now > 300:
        raise deny(svc, request, ANONYMOUS, 401, "bad_assertion",
                   "the assertion must name the node as subject and expire within 5 minutes")
    minutes = svc.settings.node_token_minutes
    return {"access_token": new_token(svc, node_id, Role.NODE.value, site, minutes),
            "token_type": "bearer", "expires_in": 60 * minutes, "role": Role.NODE.value}
