"""Who is calling: bearer tokens, a permission per route, every denial audited (a signed-in
person's one by one; anonymous callers' counted per interval, ``coordinator.denials``).

People get tokens by the OAuth2 password flow; nodes by presenting an assertion signed with
their enrolled Ed25519 key (RFC 7523 style). Tokens are Ed25519 JWS; each use re-checks that
the account is still active with the same role, so disabling someone takes effect at once,
and that the token was not revoked (signed out, ``coordinator.token_ids``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from audit.records import Action, Actor, Event, LegalBasis
from coordinator import denials
from coordinator.browser_session import CSRF_HEADER, SAFE_METHODS, csrf_matches, session_token
from coordinator.db import Node, User
from coordinator.denials import ANONYMOUS
from coordinator.errors import Problem
from coordinator.lockout import ACCOUNT, CLIENT, Slot, give_back, reserve
from coordinator.passwords import check_password
from coordinator.roles import Permission, Role, allows
from coordinator.service import Coordinator
from coordinator.services.requests import USERNAME
from coordinator.token_ids import COORDINATOR, JTI, is_spent, node_issuer, spend
from privacy.signing import VerifyKey
from privacy.tokens import TokenError, issue, unverified_header, verify

AUDIENCE = "safecity-coordinator"
MAX_ASSERTION_SECONDS = 300  # a node's assertion must expire this soon (its jti is kept as long)


@dataclass(frozen=True)
class Principal:
    username: str
    role: str
    agency: str
    actor: Actor


def service(request: Request) -> Coordinator:
    return request.app.state.coordinator


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def new_token(svc: Coordinator, username: str, role: str, agency: str, minutes: int) -> str:
    now = int(svc.clock().timestamp())
    claims = {"sub": username, "role": role, "agency": agency, "aud": AUDIENCE, "iat": now,
              "exp": now + 60 * minutes, "jti": str(uuid.uuid4())}
    return issue(claims, svc.keys.token, "token")


def sign_out(svc: Coordinator, token: str) -> None:
    """Revoke one of our tokens (RFC 7009): every worker refuses it from now until it
    expires. A token that does not verify (expired, forged) needs no revoking."""
    try:
        claims = verify(token.strip(), svc.keys.token.public, AUDIENCE,
                        int(svc.clock().timestamp()))
    except TokenError:
        return
    if isinstance(claims.get("jti"), str):
        spend(svc, COORDINATOR, claims["jti"], claims["exp"])


def deny(svc: Coordinator, request: Request, actor: Actor, status: int, outcome: str,
         detail: str, extra: dict[str, Any] | None = None) -> Problem:
    """Log the denial (count it, for an anonymous caller), then return the problem to raise:
    429 with Retry-After for an anonymous source past its limit."""
    if actor == ANONYMOUS:
        wait = denials.count(svc, client_address(request), outcome)
        if wait is not None:
            return Problem(429, "Too Many Requests", "too many refused requests from this "
                           f"address; try again in {wait} seconds", "rate_limited",
                           {"Retry-After": str(wait)})
    else:
        svc.log(Event(actor=actor, action=Action.ACCESS_DENIED, legal_basis=LegalBasis.NONE,
                      outcome=outcome, details={"method": request.method,
                                                "path": request.url.path,
                                                "client": client_address(request),
                                                **(extra or {})}))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    title = "Unauthorized" if status == 401 else "Forbidden"
    return Problem(status, title, detail, outcome, headers)


# Declares the OAuth2 password flow in the OpenAPI document (the "Authorize" button in /docs);
# errors are raised below, audited, not by FastAPI.
bearer = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


def authenticate(request: Request, token: str | None = Depends(bearer),
                 svc: Coordinator = Depends(service)) -> Principal:
    """The caller, from a bearer token or (pages in a browser) the session cookie; a request
    that changes something under the cookie must carry the session's CSRF token."""
    if not token:
        token = session_token(request)
        if token and request.method not in SAFE_METHODS \
                and not csrf_matches(request, request.headers.get(CSRF_HEADER)):
            raise deny(svc, request, ANONYMOUS, 403, "csrf",
                       "a request made with the session cookie must carry its CSRF token")
    if not token:
        raise deny(svc, request, ANONYMOUS, 401, "unauthenticated", "a bearer token is required")
    holder = _holder(svc, token)
    if isinstance(holder, str):
        raise deny(svc, request, ANONYMOUS, 401, "bad_token", holder)
    return holder


def _holder(svc: Coordinator, token: str) -> Principal | str:
    """The person or node a token stands for now, or why it stands for no one."""
    try:
        claims = verify(token.strip(), svc.keys.token.public, AUDIENCE,
                        int(svc.clock().timestamp()))
    except TokenError as exc:
        return str(exc)
    username, role, jti = str(claims.get("sub")), str(claims.get("role")), claims.get("jti")
    with svc.session() as session:
        revoked = not isinstance(jti, str) or is_spent(session, COORDINATOR, jti)
        if role == Role.NODE:
            node = session.get(Node, username)
            current = (Role.NODE.value, node.site_id) if node and node.active else None
        else:
            user = session.get(User, username)
            current = (user.role, user.agency) if user and user.active else None
    if revoked:
        return "this token was revoked (its holder signed out)"
    if current is None or current[0] != role:
        return "the account behind this token is disabled or has changed role"
    return Principal(username, role, current[1], svc.actor(username, role, current[1]))


def signed_in(request: Request, svc: Coordinator) -> Principal | None:
    """Who this browser's session belongs to, for a public page's header (the portal, the
    sign-in form, a problem page): nobody where there is no valid session. It grants nothing
    and is no denial (nothing is logged or counted): every route still checks its own
    permission."""
    token = session_token(request)
    if not token:
        return None
    holder = _holder(svc, token)
    return holder if isinstance(holder, Principal) and holder.role != Role.NODE else None


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency: the caller, if their role grants ``permission``; else 403, audited."""

    def check(request: Request, who: Principal = Depends(authenticate),
              svc: Coordinator = Depends(service)) -> Principal:
        if not allows(who.role, permission):
            raise deny(svc, request, who.actor, 403, "forbidden",
                       f"the {who.role} role may not {permission.value}",
                       {"permission": permission.value, "user": who.username})
        return who

    return check


def password_login(request: Request, svc: Coordinator, username: str, password: str
                   ) -> dict[str, Any]:
    """A token for a person whose password is right, or the (audited) Problem saying why not.
    The try is counted before Argon2 runs (``coordinator.lockout``), so the limit holds for
    guesses sent at once to any number of workers."""
    settings = svc.settings
    window = settings.login_window_seconds
    # a name no account can have gets no counter of its own, nor a lookup (PostgreSQL refuses
    # a NUL in a string); the address's counter still counts the try
    named = re.fullmatch(USERNAME, username) is not None
    account = Slot(ACCOUNT, username, settings.login_failures)
    slots = [Slot(CLIENT, client_address(request)[:64], 4 * settings.login_failures),
             *([account] if named else [])]
    if not reserve(svc.session, slots, int(svc.clock().timestamp()), window):
        problem = deny(svc, request, ANONYMOUS, 429, "login_locked",
                       "too many failed logins; try again later", {"user": username})
        problem.headers["Retry-After"] = str(window)
        raise problem
    with svc.session() as session:  # not held while Argon2 runs
        user = session.get(User, username) if named else None
    if not check_password(user.password_hash if user else None, password) \
            or user is None or not user.active:
        raise deny(svc, request, ANONYMOUS, 401, "login_failed",
                   "wrong username or password", {"user": username})
    with svc.session() as session:
        give_back(session, slots, clear=account)
    role, agency = user.role, user.agency
    minutes = settings.token_minutes
    return {"access_token": new_token(svc, username, role, agency, minutes),
            "token_type": "bearer", "expires_in": 60 * minutes, "role": role}


def node_login(request: Request, svc: Coordinator, assertion: str) -> dict[str, Any]:
    """A token for an enrolled node whose signed assertion is fresh and used once, or the
    (counted) Problem saying why not."""
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
