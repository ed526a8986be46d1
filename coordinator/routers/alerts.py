"""``/alerts``: the control room's alert queue (list, acknowledge, assign, close) and its live
feed as server-sent events (the use cases are in ``coordinator.services.alerts``)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi import Query as QueryParam
from fastapi.responses import StreamingResponse

from audit.routes import MAX_INDEX, Index
from coordinator.auth import Principal, require, service
from coordinator.roles import Permission
from coordinator.server_sent_events import feed, resume_point
from coordinator.service import Coordinator
from coordinator.services import alerts
from coordinator.services.requests import Assignment

router = APIRouter(prefix="/alerts", tags=["alerts"])
State = Literal["open", "acknowledged", "closed", "logged"]


@router.get("", summary="The alert queue, newest first (control room)")
def list_alerts(state: State | None = "open", type: str | None = None,
                camera: str | None = None, site_id: str | None = None,
                assigned_to: str | None = None,
                limit: int = QueryParam(default=100, ge=1, le=1000),
                _: Principal = Depends(require(Permission.ALERT_READ)),
                svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return alerts.listed(svc, limit, state, type, camera, site_id, assigned_to)


@router.get("/stream", summary="New alerts as they arrive (server-sent events)",
            response_class=StreamingResponse)
async def stream(request: Request,
                 after: int | None = QueryParam(default=None, ge=0, le=MAX_INDEX),
                 last_event_id: str | None = Header(default=None),
                 _: Principal = Depends(require(Permission.ALERT_READ)),
                 svc: Coordinator = Depends(service)) -> StreamingResponse:
    """Each open alert once, in the order alerts are committed, as ``event: alert`` with the
    alert's feed position as its ``id`` (not the alert's id: ids are handed out before commit,
    so one can commit after a higher one); a reconnecting client sends Last-Event-ID (or
    ``?after=``, a position the pages get from the server) and gets what it missed. A comment
    line keeps idle connections open."""
    start = resume_point(last_event_id, after, "a feed position")
    if start is None:
        start = await asyncio.to_thread(alerts.latest, svc)
    return feed(request, start, "alert", lambda last: alerts.after(svc, last))


@router.get("/{alert_id}", summary="One alert")
def get_alert(alert_id: Index, _: Principal = Depends(require(Permission.ALERT_READ)),
              svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return alerts.shown(svc, alert_id)


@router.post("/{alert_id}/acknowledge", summary="Acknowledge an open alert")
def acknowledge(alert_id: Index, who: Principal = Depends(require(Permission.ALERT_HANDLE)),
                svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return alerts.acknowledge(svc, who, alert_id)


@router.post("/{alert_id}/close", summary="Close an alert that was dealt with")
def close(alert_id: Index, who: Principal = Depends(require(Permission.ALERT_HANDLE)),
          svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return alerts.close(svc, who, alert_id)


@router.post("/{alert_id}/assign", summary="Assign an alert to a control-room operator")
def assign(alert_id: Index, body: Assignment,
           who: Principal = Depends(require(Permission.ALERT_HANDLE)),
           svc: Coordinator = Depends(service)) -> dict[str, Any]:
    """Assign the alert (again: to another operator). To the operator it is assigned to
    already: 409 ``no_change``, as for incidents, and nothing is audited (a no-op would only
    grow the permanent log); the operator's screen already shows that owner."""
    return alerts.assign(svc, who, alert_id, body.username)
