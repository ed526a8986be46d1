"""Signing in and out of the pages. The password check is the API's own (``/token``: Argon2id,
lock-out per account and address, every failure audited); the token it issues lives in an
HttpOnly cookie, revoked when they sign out. The login form itself carries the CSRF token
(login CSRF)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from coordinator.auth import password_login, service, sign_out
from coordinator.browser_session import csrf_matches, end_session, session_token, start_session
from coordinator.errors import Problem
from coordinator.service import Coordinator
from coordinator.web.templates import render

log = logging.getLogger(__name__)
router = APIRouter(tags=["pages"], include_in_schema=False)

HOME_BY_ROLE = {"dpo": "/console", "police_analyst": "/casework", "judge": "/casework",
                "site_operator": "/control-room", "admin": "/admin", "planner": "/planner"}


def safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no '//'): no open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return None
    return target


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=safe_next(next) or "", error=None)


@router.post("/login")
def login(request: Request, username: str = Form("", max_length=64),
          password: str = Form("", max_length=1024), csrf: str = Form("", max_length=128),
          next: str = Form("", max_length=2048),
          svc: Coordinator = Depends(service)) -> Response:
    if not csrf_matches(request, csrf):
        return render(request, "login.html", status=403, next=safe_next(next) or "",
                      error="The form expired; please try again.")
    try:
        granted = password_login(request, svc, username, password)
    except Problem as exc:
        return render(request, "login.html", status=exc.status, next=safe_next(next) or "",
                      error=exc.detail, headers=exc.headers)
    target = safe_next(next) or HOME_BY_ROLE.get(granted["role"], "/portal")
    response = RedirectResponse(target, status_code=303)
    replaced = session_token(request)
    if replaced:  # the session this browser had is over: its token must not outlive it
        sign_out(svc, replaced)
    start_session(request, response, granted["access_token"], granted["expires_in"])
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("", max_length=128),
           svc: Coordinator = Depends(service)) -> Response:
    """Signing out revokes the session's token, not just the cookie: a copy of it (another
    tab, a stolen cookie used as a bearer token) stops working in every worker at once.

    It does so even when the form's CSRF token is stale (a tab opened before the person signed
    in again elsewhere): a sign-out that silently did nothing was worse than none. Another site
    cannot use this to sign anyone out: the session cookie is SameSite=Strict, so a cross-site
    request carries no session to revoke."""
    response = RedirectResponse("/portal", status_code=303)
    token = session_token(request)
    if token:
        sign_out(svc, token)
    if not csrf_matches(request, csrf):
        log.info("sign-out from a page with a stale CSRF token: signed out all the same")
    end_session(response)
    return response
