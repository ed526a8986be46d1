"""RFC 9457 problem details: the one body every HTTP error of safecity carries.

Both HTTP surfaces (the audit log's routes, served alone by ``safecity audit serve`` or mounted
by the coordinator, and the coordinator's own API) answer errors with the body built here, and
install the same handlers: a malformed request is a 422 problem, not FastAPI's default, and the
OpenAPI document says what every error really is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

MEDIA_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str, instance: str | None = None,
            code: str | None = None, headers: dict[str, str] | None = None,
            extensions: dict[str, Any] | None = None) -> JSONResponse:
    """A problem details response; ``code`` is a stable machine-readable reason;
    ``extensions`` are further members (RFC 9457 section 3.2), such as ``errors``."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail}
    if instance:
        body["instance"] = instance
    if code:
        body["code"] = code
    for name, value in (extensions or {}).items():
        body.setdefault(name, value)  # never overrides a standard member
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Every invalid field of a request at once (RFC 9457's ``errors`` extension): a body
    field as a JSON Pointer into the body (``#/node_id``; ``#`` for the whole body), a query,
    path or header parameter by its name, each with why."""
    out = []
    for error in errors:
        where = [str(part) for part in error.get("loc", ())]
        item = {"detail": str(error.get("msg", "invalid"))}
        if where and where[0] == "body":
            item["pointer"] = "#" + "".join(
                "/" + p.replace("~", "~0").replace("/", "~1") for p in where[1:])
        elif where:
            item["parameter"] = ".".join(where[1:]) or where[0]
        out.append(item)
    return out


def _said(item: dict[str, str]) -> str:
    if "pointer" in item:
        where = item["pointer"].removeprefix("#/").replace("/", ".") \
            if item["pointer"] != "#" else "body"
    else:
        where = item.get("parameter", "request")
    return f"{where}: {item['detail']}"


def add_problem_handlers(app: FastAPI) -> None:
    """Answer malformed requests with RFC 9457 problem details instead of FastAPI's default."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors()) or [{"detail": "invalid request"}]
        detail = f"{len(errors)} invalid field(s): " if len(errors) > 1 else ""
        return problem(422, "Invalid request", detail + "; ".join(_said(e) for e in errors),
                       str(request.url.path), "invalid", extensions={"errors": errors})

    document_problems(app)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem", "type": "object", "required": ["type", "title", "status", "detail"],
    "description": "RFC 9457 problem details; `code` is a stable machine-readable reason.",
    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                   "status": {"type": "integer", "minimum": 400, "maximum": 599},
                   "detail": {"type": "string"}, "instance": {"type": "string"},
                   "code": {"type": "string"},
                   "errors": {"type": "array", "description": "every invalid field of a 422 "
                              "at once: `pointer` (into the body) or `parameter`, and `detail`",
                              "items": {"type": "object", "properties": {
                                  "pointer": {"type": "string"},
                                  "parameter": {"type": "string"},
                                  "detail": {"type": "string"}}}}},
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
