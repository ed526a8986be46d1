"""RFC 9457 problem details: the one body every HTTP error of safecity carries.

Both HTTP surfaces (the audit log's routes, served alone by ``safecity audit serve`` or mounted
by the coordinator, and the coordinator's own API) answer errors with the body built here, and
install the same handlers: a malformed request is a 422 problem, not FastAPI's default, and the
OpenAPI document says what every error really is.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

MEDIA_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str, instance: str | None = None,
            code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem details response; ``code`` is a stable machine-readable reason."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail}
    if instance:
        body["instance"] = instance
    if code:
        body["code"] = code
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def add_problem_handlers(app: FastAPI) -> None:
    """Answer malformed requests with RFC 9457 problem details instead of FastAPI's default."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem(422, "Invalid request", f"{where}: {first.get('msg')}",
                       str(request.url.path))

    document_problems(app)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem", "type": "object", "required": ["type", "title", "status", "detail"],
    "description": "RFC 9457 problem details; `code` is a stable machine-readable reason.",
    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                   "status": {"type": "integer", "minimum": 400, "maximum": 599},
                   "detail": {"type": "string"}, "instance": {"type": "string"},
                   "code": {"type": "string"}},
}


def document_problems(app: FastAPI) -> None:
    """State in the OpenAPI document what every error really is: a problem details body
    (RFC 9457, ``application/problem+json``), for 422 and for any other error status."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version,
                                   description=app.description, routes=app.routes)
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = PROBLEM_SCHEMA
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            error = {"description": "Problem details (RFC 9457)", "content": {
                MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    if "422" in responses:
                        responses["422"] = error
                    responses["default"] = error
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI documents this override
