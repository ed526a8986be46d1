"""Browser sessions for the coordinator's pages: the bearer token in an HttpOnly cookie, and a
CSRF token (double submit) that every state-changing request made with that cookie must echo.

The API's own clients send ``Authorization: Bearer``; a browser sends the cookie instead. A
cookie rides along on requests other sites make, so a request authenticated by the cookie
that changes anything must also carry the CSRF token in the ``X-CSRF-Token`` header (or a
``csrf`` form field), compared in constant time. Cookies are SameSite=Strict."""

from __future__ import annotations

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


def csrf_token(request: Request) -> str:
    """The browser's CSRF token (made when it first loads a page)."""
    return request.cookies.get(CSRF_COOKIE) or ""


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
    set_csrf_cookie(request, response, new_csrf_token())  # a fresh one per login


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
