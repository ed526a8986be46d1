"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served with
their scripts and styles from the coordinator's own origin (``static/vendor/``, docs/vendored.md):
nothing is fetched from a CDN, so they work on a network without one (issue 24).

FastAPI's pages carry a few lines of inline script (Swagger UI's start-up, the OAuth2 redirect)
and one inline style (ReDoc's body margin). The Content-Security-Policy stays as strict as every
other page's: no ``'unsafe-inline'`` and no ``'unsafe-eval'``; each inline block is allowed by its
own SHA-256, computed from the very page served, so a changed page cannot run anything else.
ReDoc's styles, which it inserts at run time (styled-components), are allowed by a nonce that is
new for every response, which ``static/redoc_init.js`` hands to ReDoc."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse

from coordinator.web.templates import PAGE_HEADERS

VENDOR = "/static/vendor"
SWAGGER_JS = f"{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui-dist/swagger-ui.css"
FAVICON = f"{VENDOR}/swagger-ui-dist/favicon-32x32.png"
REDOC_JS = f"{VENDOR}/redoc/redoc.standalone.js"
REDOC_INIT = "/static/redoc_init.js"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

# The style sheet ReDoc's bundle inserts as it loads, before it can be given the nonce
# (perfect-scrollbar's CSS; the element is inserted empty, then filled): fixed by the vendored
# file's SHA-256 in docs/vendored.md, and a new ReDoc that inserts another fails
# tests/e2e/test_api_docs_offline.py on the policy's violation.
REDOC_LOAD_STYLES = ("'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
                     "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='")

INLINE = re.compile(r"<(script|style)(?:\s[^>]*)?>(.*?)</\1>", re.S)


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def inline_hashes(html: str) -> tuple[list[str], list[str]]:
    """The CSP source expressions of the inline scripts and styles of ``html`` (a ``<script
    src=...>`` has no inline text and needs none)."""
    scripts: list[str] = []
    styles: list[str] = []
    for match in INLINE.finditer(html):
        tag, body = match.group(1), match.group(2)
        if tag == "script" and "src=" in match.group(0).split(">", 1)[0]:
            continue
        (scripts if tag == "script" else styles).append(_digest(body))
    return scripts, styles


def policy(html: str, nonce: str | None = None, load_styles: tuple[str, ...] = (),
           workers: bool = False) -> str:
    """The pages' strict policy, with the inline blocks of ``html`` and ``load_styles`` allowed
    by hash, run-time styles by ``nonce``, and with ``workers`` a worker made from a blob (ReDoc's
    search index: the blob is made by ReDoc's own script, the only script the page runs)."""
    scripts, styles = inline_hashes(html)
    style_sources = [*styles, *load_styles, *([f"'nonce-{nonce}'"] if nonce else [])]
    script_src = " ".join(["'self'", *scripts])
    style_src = " ".join(["'self'", *style_sources])
    return (f"default-src 'none'; script-src {script_src}; style-src {style_src}; "
            "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'" + ("; worker-src blob:" if workers else ""))


def _page(html: str, csp: str | None = None) -> HTMLResponse:
    return HTMLResponse(html, headers={**PAGE_HEADERS,
                                       "Content-Security-Policy": csp or policy(html)})


def install(app: FastAPI) -> None:
    """``/docs``, its OAuth2 redirect and ``/redoc`` on ``app`` (created with ``docs_url`` and
    ``redoc_url`` None), each loading only this origin's files."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _page(bytes(get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} - API", swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS, swagger_favicon_url=FAVICON,
            oauth2_redirect_url=OAUTH2_REDIRECT).body).decode())

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return _page(bytes(get_swagger_ui_oauth2_redirect_html().body).decode())

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        nonce = secrets.token_urlsafe(18)
        html = bytes(get_redoc_html(
            openapi_url=openapi_url, title=f"{title} - API", redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON, with_google_fonts=False).body).decode()
        # ReDoc starts from redoc_init.js, which gives it the nonce its <style> elements need
        # (a ``nonce`` attribute on <redoc> would be hidden from it by the browser).
        spec = f'<redoc spec-url="{openapi_url}">'
        assert spec in html
        html = html.replace(spec, f'<redoc data-spec-url="{openapi_url}">').replace(
            "</body>", f'<script src="{REDOC_INIT}" nonce="{nonce}"></script>\n</body>', 1)
        return _page(html, policy(html, nonce, REDOC_LOAD_STYLES, workers=True))
