"""How the API answers errors: RFC 9457 problem details (``kernel.problems``), each with a
stable ``code``; the errors themselves are declared in ``coordinator.errors``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from audit.errors import AuditError
from coordinator.errors import DispatchError, Problem
from kernel.problems import add_problem_handlers, problem

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    add_problem_handlers(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        page = getattr(request.app.state, "page_problem", None)
        if page is not None and wants_page(request):
            return page(request, exc)  # a person in a browser: a page, not JSON
        return problem(exc.status, exc.title, exc.detail, request.url.path, exc.code,
                        exc.headers, exc.extensions)

    @app.exception_handler(DispatchError)
    async def _broker(request: Request, exc: DispatchError) -> JSONResponse:
        return problem(503, "Service unavailable", str(exc), request.url.path,
                        "broker_unavailable", {"Retry-After": "30"})

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable on %s %s: %s", request.method, request.url.path,
                  type(exc).__name__)
        return problem(503, "Service unavailable", "the database is unavailable; nothing was "
                        "changed, try again shortly", request.url.path, "database_unavailable",
                        {"Retry-After": "5"})

    @app.exception_handler(AuditError)
    async def _audit(request: Request, exc: AuditError) -> JSONResponse:
        log.error("audit log unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem(503, "Service unavailable", "the audit log cannot be written, so the "
                        "request was not carried out (every action is logged first); try again "
                        "shortly", request.url.path, "audit_unavailable", {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "the coordinator failed; the error is logged "
                        "on the server", request.url.path, "internal")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), request.url.path,
                        headers=dict(exc.headers or {}))


def wants_page(request: Request) -> bool:
    """A browser navigating (not a script or an API client asking for JSON)."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")

