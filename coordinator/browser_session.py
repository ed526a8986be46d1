"""Browser sessions for the coordinator's pages: the bearer token in an HttpOnly cookie, and a
CSRF token bound to that session that every state-changing request made with the cookie must
echo.

The API's own clients send ``Authorization: Bearer``; a browser sends the cookie instead. A
cookie rides along on requests other sites make, so a request authenticated by the cookie
that changes anything must also carry the CSRF token in the ``X-CSRF-Token`` header (or a
``csrf`` form field), compared in constant time. Cookies are SameSite=Strict.

While a session cookie is present the expected token is not whatever the CSRF cookie says but
HMAC-SHA256 of the session token under a server key (derived from the coordinator's pseudonym
key, its own domain): a cookie planted for the coordinator's host (a sibling subdomain, an
active attacker on plain http) with a matching form field no longer passes (red team 14), and
each new session has a new token. Before sign-in (the login form) it stays a double submit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "safecity_session"
CSRF_COOKIE = "safecity_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


_CSRF_KEY_LABEL = b"safecity csrf key/v1\n"
_CSRF_DOMAIN = b"safecity csrf/v1\n"


def session_csrf(request: Request, token: str) -> str | None:
    """The CSRF token bound to the session ``token``: HMAC-SHA256 under a key of the server's
    (None outside the coordinator's app)."""
    svc = getattr(request.app.state, "coordinator", None)
    if svc is None:
        return None
    key = hmac.new(svc.keys.pseudonym_key, _CSRF_KEY_LABEL, hashlib.sha256).digest()
    mac = hmac.new(key, _CSRF_DOMAIN + token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_token(request: Request) -> str:
    """The browser's CSRF token: the session's (bound to it) while signed in, else the one in
    its cookie (made when it first loads a page)."""
    token = session_token(request)
    bound = session_csrf(request, token) if token else None
    return bound or request.cookies.get(CSRF_COOKIE) or ""


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(request: Request, submitted: str | None) -> bool:
    expected = csrf_token(request)
    return bool(expected and submitted) and hmac.compare_digest(
        expected.encode(), (submitted or "").encode())


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_csrf_cookie(request: Request, response: Response, value: str) -> None:
    # readable by the page's script (it echoes it); useless to another site (SameSite, CORS)
    response.set_cookie(CSRF_COOKIE, value, httponly=False, samesite="strict", path="/",
                        secure=_secure(request))


def start_session(request: Request, response: Response, token: str, seconds: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=seconds, httponly=True,
                        samesite="strict", path="/", secure=_secure(request))
    # a fresh one per login, bound to the session
    set_csrf_cookie(request, response, session_csrf(request, token) or new_csrf_token())


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
