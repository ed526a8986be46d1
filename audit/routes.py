"""HTTP routes for the audit log, for the coordinator (or ``safecity audit serve``) to mount.

Everything here is public: entries are public records (personal details are commitments only),
checkpoints are signed, proofs are proofs. Errors are RFC 9457 problem details.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from audit.bundle import PAGE_FORMAT, b64
from audit.checkpoint import open_checkpoint
from audit.cosignature import CosignerKey
from audit.errors import AuditError
from audit.log import AuditLog
from kernel.errors import VerificationError

MAX_PAGE = 1000
MAX_CHECKPOINT_PAGE = 1000
MAX_INDEX = 2**62  # beyond any log's size, and inside a database's 64-bit integer

Index = Annotated[int, Path(ge=0, le=MAX_INDEX)]


def problem(status: int, title: str, detail: str, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail}
    if instance:
        body["instance"] = instance
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def unreadable(index: int, error: VerificationError, instance: str) -> JSONResponse:
    """A stored entry that no longer parses as a public record (altered in the database, or
    written by a newer version): named, so that whoever reads the log can examine it with
    ``/audit/bundle`` and ``safecity audit verify``. 409: the request is sound, the stored log
    is not in a state that can answer it."""
    return problem(409, "Unreadable audit entry",
                   f"audit entry {index} does not parse as a public record ({error}); the raw "
                   "log is at /audit/bundle, check it with `safecity audit verify`", instance)


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
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    if "422" in responses:
                        responses["422"] = error
                    responses["default"] = error
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def _link(response: Response, name: str, cursor: int | None, limit: int) -> str | None:
    """The next page's address, relative to this one (RFC 3986 5.2: it resolves correctly
    under any prefix the API is mounted at), also as ``Link: <...>; rel="next"``."""
    if cursor is None:
        return None
    target = f"{name}?cursor={cursor}&limit={limit}"
    response.headers["Link"] = f'<{target}>; rel="next"'
    return target


def audit_router(log: AuditLog, witnesses: Sequence[CosignerKey] = (),
                 quorum: int = 1) -> APIRouter:
    """The routes; ``witnesses`` are the cosigners whose cosignatures the log accepts, and
    ``quorum`` how many make a checkpoint witnessed."""
    router = APIRouter(prefix="/audit", tags=["audit"])

    @router.get("/checkpoint/witnessed", response_class=PlainTextResponse,
                summary="The newest checkpoint cosigned by the witnesses' quorum")
    def witnessed(request: Request) -> Any:
        note = log.newest_witnessed([w.name for w in witnesses], quorum)
        if note is None:
            return problem(404, "No witnessed checkpoint", f"no checkpoint carries {quorum} "
                           "witness cosignature(s) yet", str(request.url.path))
        return PlainTextResponse(note.format())

    @router.get("/checkpoint", response_class=PlainTextResponse,
                summary="The latest signed checkpoint (C2SP tlog-checkpoint, signed note)")
    def checkpoint(request: Request) -> Any:
        try:
            return PlainTextResponse(log.checkpoint())
        except AuditError as exc:
            return problem(404, "No checkpoint", str(exc), str(request.url.path))

    @router.get("/checkpoints", summary="The signed checkpoints, oldest first, a page at a "
                "time (``next``: the following page, RFC 8288 Link header too)")
    def checkpoints(response: Response,
                    cursor: int = Query(0, ge=0, le=MAX_INDEX,
                                        description="from the checkpoint after this one"),
                    limit: int = Query(MAX_CHECKPOINT_PAGE, ge=1, le=MAX_CHECKPOINT_PAGE)
                    ) -> dict[str, Any]:
        notes, following = log.checkpoint_page(cursor, limit)
        return {"checkpoints": notes,
                "next": _link(response, "checkpoints", following, limit)}

    @router.get("/entries", summary="Public audit records, by index")
    def entries(request: Request, start: int = Query(0, ge=0, le=MAX_INDEX),
                limit: int = Query(100, ge=1, le=MAX_PAGE)) -> Any:
        page = []
        for item in log.entries(start, limit):
            try:
                page.append({"index": item.index, "data": b64(item.data),
                             "record": item.record.model_dump(mode="json", exclude_none=True)})
            except VerificationError as exc:
                return unreadable(item.index, exc, str(request.url.path))
        return {"entries": page}

    @router.get("/entries/{index}", summary="One public audit record")
    def entry(index: Index, request: Request) -> Any:
        try:
            item = log.entry(index)
        except AuditError as exc:
            return problem(404, "No such entry", str(exc), str(request.url.path))
        try:
            record = item.record.model_dump(mode="json", exclude_none=True)
        except VerificationError as exc:
            return unreadable(item.index, exc, str(request.url.path))
        return {"index": item.index, "data": b64(item.data), "leaf_hash": b64(item.leaf_hash),
                "record": record}

    @router.get("/proofs/inclusion", summary="RFC 9162 inclusion proof")
    def inclusion(request: Request, index: int = Query(ge=0, le=MAX_INDEX),
                  size: int = Query(ge=1, le=MAX_INDEX)) -> Any:
        try:
            proof = log.inclusion_proof(index, size)
        except AuditError as exc:
            return problem(400, "No such proof", str(exc), str(request.url.path))
        return {"index": index, "size": size, "proof": [b64(p) for p in proof]}

    @router.get("/proofs/consistency", summary="RFC 9162 consistency proof")
    def consistency(request: Request, first: int = Query(ge=1, le=MAX_INDEX),
                    second: int = Query(ge=1, le=MAX_INDEX)) -> Any:
        try:
            proof = log.consistency_proof(first, second)
        except AuditError as exc:
            return problem(400, "No such proof", str(exc), str(request.url.path))
        return {"first": first, "second": second, "proof": [b64(p) for p in proof]}

    @router.get("/bundle", summary="The log for verification, a page at a time: entries "
                "from ``cursor`` and the checkpoints of the sizes they end; ``next`` names the "
                "following page (RFC 8288 Link header too), none on the last")
    def bundle(response: Response, cursor: int = Query(0, ge=0, le=MAX_INDEX),
               limit: int = Query(MAX_PAGE, ge=1, le=MAX_PAGE)) -> dict[str, Any]:
        page, following = log.bundle_page(cursor, limit)
        return page.to_json(PAGE_FORMAT) | {"cursor": cursor,
                                            "next": _link(response, "bundle", following, limit)}

    @router.get("/receipts/{index}", summary="An offline-checkable receipt for one entry")
    def receipt(index: Index, request: Request) -> Any:
        from audit.prove import make_receipt

        try:
            return make_receipt(log, index).to_json()
        except AuditError as exc:
            return problem(404, "No such entry", str(exc), str(request.url.path))

    @router.post("/cosignatures", summary="Hand back a checkpoint cosigned by a witness")
    async def cosignatures(request: Request) -> Any:
        body = (await request.body())[:65536].decode("utf-8", "replace")
        try:
            _, note = open_checkpoint(body, log.signer.verifier)
            known = [w for w in witnesses if any(w.name == s.name for s in note.signatures)]
            if not known:
                return problem(403, "Unknown witness", "no signature by a witness this log "
                               "accepts", str(request.url.path))
            for witness in known:
                witness.verify(note)
            log.add_cosignature(body)
        except VerificationError as exc:
            return problem(400, "Invalid cosignature", str(exc), str(request.url.path))
        return {"accepted": [w.name for w in known]}

    return router
