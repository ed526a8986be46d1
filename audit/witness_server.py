"""``safecity audit witness serve``: one witness over HTTP (c2sp.org/tlog-witness).

A court, the DPO's office or a civil-society group runs one, with its own key and state, so
that the city's log cannot show one history to a node and another to the public: a witness
cosigns a checkpoint only if it is consistent with every one it cosigned before.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from audit.witness import (
    ForgedCheckpoint,
    InconsistentCheckpoint,
    UnknownLog,
    Witness,
    WitnessConflict,
)
from audit.witness_protocol import MAX_BODY, SIZE_CONTENT_TYPE, parse_request
from kernel.errors import VerificationError
from kernel.problems import problem

log = logging.getLogger(__name__)


def witness_app(witness: Witness) -> FastAPI:
    app = FastAPI(title=f"safecity witness {witness.cosigner.name}", docs_url=None,
                  redoc_url=None, openapi_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Any:
        body = await _limited_body(request)
        if body is None:
            return problem(413, "Too large", "the request body is larger than 64 KiB",
                           "/add-checkpoint")
        try:
            parsed = parse_request(body)
            note = witness.cosign(parsed.checkpoint, parsed.proof, parsed.old_size)
        except WitnessConflict as exc:
            return Response(f"{exc.size}\n", status_code=409, media_type=SIZE_CONTENT_TYPE)
        except UnknownLog as exc:
            return problem(404, "Unknown log", str(exc), "/add-checkpoint")
        except InconsistentCheckpoint as exc:
            log.warning("refused a checkpoint: %s", exc)
            return problem(422, "Inconsistent checkpoint", str(exc), "/add-checkpoint")
        except ForgedCheckpoint as exc:
            return problem(403, "Not signed by the log", str(exc), "/add-checkpoint")
        except VerificationError as exc:
            return problem(400, "Malformed request", str(exc), "/add-checkpoint")
        mine = [s for s in note.signatures if s.name == witness.cosigner.name]
        return PlainTextResponse("".join(s.line() for s in mine))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "witness": witness.cosigner.public.vkey()}

    return app


async def _limited_body(request: Request) -> bytes | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return body
