"""The coordinator's HTTP API (FastAPI): OpenAPI at ``/docs``, problem details for errors."""

from __future__ import annotations

from fastapi import FastAPI

from audit.routes import audit_router
from coordinator import problems
from coordinator.limits import BodyLimit
from coordinator.metrics import RequestTelemetry
from coordinator.routers import (
    aggregates,
    alerts,
    delivery_status,
    evidence_clips,
    health,
    incidents,
    nodes,
    pins,
    queries,
    tokens,
    users,
    warrants,
    webhooks,
)
from coordinator.service import Coordinator
from coordinator.web.api_docs import install as install_api_docs
from coordinator.web.pages import install as install_pages


def create_app(coordinator: Coordinator) -> FastAPI:
    app = FastAPI(title="safecity coordinator", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Warrant- and consent-gated watchlist queries answered by "
                              "camera-site nodes; every access in a public audit log.")
    app.state.coordinator = coordinator
    problems.install(app)
    for router in (tokens.router, users.router, nodes.router, pins.router, warrants.router,
                   queries.router, aggregates.router, alerts.router, evidence_clips.router,
                   incidents.router, delivery_status.router,
                   webhooks.router,
                   health.router):
        app.include_router(router)
    app.include_router(audit_router(coordinator.audit, coordinator.witnessing.keys(),
                                    coordinator.settings.witness_quorum))
    install_pages(app)
    install_api_docs(app)
    app.add_middleware(BodyLimit, max_bytes=coordinator.settings.max_upload_bytes)
    app.add_middleware(RequestTelemetry, metrics=coordinator.metrics)
    return app


def from_environment() -> FastAPI:
    """The app of one `coordinator serve` worker process: its config file is named by the
    parent (``SAFECITY_COORDINATOR_CONFIG``); each worker opens its own connections."""
    import os
    from pathlib import Path

    from coordinator.config import load_coordinator_settings
    from kernel.json_logs import configure

    path = os.environ.get("SAFECITY_COORDINATOR_CONFIG")
    settings = load_coordinator_settings(Path(path) if path else None)
    configure("coordinator-api", "INFO", settings.log_format)
    return create_app(Coordinator.open(settings))
