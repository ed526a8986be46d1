"""Whether the coordinator can serve: each dependency it needs, asked."""

from __future__ import annotations

from sqlalchemy import text

from coordinator.service import Coordinator
from kernel.connection_failures import unavailable


def checks(svc: Coordinator) -> dict[str, str]:
    """Each dependency the API needs to serve: "ok" or why not."""
    found: dict[str, str] = {}
    try:
        with svc.session() as session:
            session.execute(text("SELECT 1"))
        found["database"] = "ok"
    except Exception as exc:
        found["database"] = unavailable(exc, "database_url")
    try:
        svc.audit.size()
        found["audit_log"] = "ok"
    except Exception as exc:
        found["audit_log"] = f"unavailable ({type(exc).__name__})"
    try:
        with svc.dispatcher.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
        found["broker"] = "ok"
    except Exception as exc:
        found["broker"] = unavailable(exc, "broker_url")
    return found

