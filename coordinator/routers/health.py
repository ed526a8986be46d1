"""Liveness and readiness of the coordinator's API process, for the orchestrator (nothing
personal in either). Its Prometheus metrics are on a listener of their own, ``metrics_address``
(:func:`coordinator.metrics.metrics_listener`), not on the public API port."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from coordinator.auth import service
from coordinator.service import Coordinator
from coordinator.services.health import checks

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database, audit log and broker answer (503: a problem that "
            "names each check)")
def readyz(request: Request, svc: Coordinator = Depends(service)) -> Any:
    started = time.monotonic()
    found = checks(svc)
    seconds = round(time.monotonic() - started, 3)
    if all(v == "ok" for v in found.values()):
        return {"status": "ready", "checks": found, "seconds": seconds}
    failing = ", ".join(f"{name}: {why}" for name, why in found.items() if why != "ok")
    return JSONResponse({"type": "about:blank", "title": "Service unavailable", "status": 503,
                         "detail": f"not ready: {failing}", "instance": request.url.path,
                         "code": "not_ready", "checks": found, "seconds": seconds},
                        status_code=503, media_type="application/problem+json",
                        headers={"Retry-After": "5"})
