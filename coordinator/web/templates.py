"""Rendering pages: one Jinja2 environment (autoescaped), the page's CSRF token, and the
security headers every page carries (a strict Content-Security-Policy: scripts and styles only
from this origin, nothing inline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from coordinator.auth import Principal, signed_in
from coordinator.browser_session import (
    CSRF_COOKIE,
    csrf_token,
    new_csrf_token,
    set_csrf_cookie,
)

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")

POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def render(request: Request, name: str, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> Response:
    """The page ``name`` with ``context``; gives the browser a CSRF token if it has none."""
    token = csrf_token(request) or new_csrf_token()
    # the header names who is signed in on every page, public ones included
    who = context.pop("who") if "who" in context else _signed_in(request)
    response = templates.TemplateResponse(
        request, name, {"csrf": token, "who": who, **context}, status_code=status,
        headers={**PAGE_HEADERS, **(headers or {})})
    if request.cookies.get(CSRF_COOKIE) != token:  # none yet, or not the session's
        set_csrf_cookie(request, response, token)
    return response


def _signed_in(request: Request) -> Principal | None:
    svc = getattr(request.app.state, "coordinator", None)
    return signed_in(request, svc) if svc is not None else None
