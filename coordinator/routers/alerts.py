"""``/alerts``: the control room's alert queue (list, acknowledge, assign, close) and its live
feed as server-sent events. Alerts are anonymous node events: type, camera, zone, time, counts
and site-local tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi import Query as QueryParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from audit.routes import MAX_INDEX, Index
from coordinator.alert_intake import alert_view
from coordinator.auth import Principal, require, service
from coordinator.db import Alert, User
from coordinator.problems import Problem, invalid, not_found
from coordinator.roles import Permission, allows
from coordinator.service import Coordinator

router = APIRouter(prefix="/alerts", tags=["alerts"])
State = Literal["open", "acknowledged", "closed", "logged"]
POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0


@router.get("", summary="The alert queue, newest first (control room)")
def list_alerts(state: State | None = "open", type: str | None = None,
                camera: str | None = None, site_id: str | None = None,
                assigned_to: str | None = None,
                limit: int = QueryParam(default=100, ge=1, le=1000),
                _: Principal = Depends(require(Permission.ALERT_READ)),
                svc: Coordinator = Depends(service)) -> dict[str, Any]:
    query = select(Alert)
    for column, value in ((Alert.state, state), (Alert.type, type), (Alert.camera, camera),
                          (Alert.site_id, site_id), (Alert.assigned_to, assigned_to)):
        if value is not None:
            query = query.where(column == value)
    with svc.session() as session:
        rows = session.scalars(query.order_by(Alert.id.desc()).limit(limit)).all()
        return {"alerts": [alert_view(a) for a in rows]}


def _after(svc: Coordinator, last: int, limit: int = 200) -> list[dict[str, Any]]:
    with svc.session() as session:
        rows = session.scalars(select(Alert).where(Alert.id > last, Alert.state == "open")
                               .order_by(Alert.id).limit(limit)).all()
        return [alert_view(a) for a in rows]


def _latest(svc: Coordinator) -> int:
    with svc.session() as session:
        return int(session.scalar(select(func.max(Alert.id))) or 0)


@router.get("/stream", summary="New alerts as they arrive (server-sent events)",
            response_class=StreamingResponse)
async def stream(request: Request,
                 after: int | None = QueryParam(default=None, ge=0, le=MAX_INDEX),
                 last_event_id: str | None = Header(default=None),
                 _: Principal = Depends(require(Permission.ALERT_READ)),
                 svc: Coordinator = Depends(service)) -> StreamingResponse:
    """Each open alert once, as ``event: alert``; a reconnecting client sends Last-Event-ID
    (or ``?after=``) and gets what it missed. A comment line keeps idle connections open."""
    if last_event_id is not None and not (
            last_event_id.isascii() and last_event_id.isdigit()
            and int(last_event_id) <= MAX_INDEX):
        raise invalid("Last-Event-ID must be an alert id")
    start = (int(last_event_id) if last_event_id is not None else after if after is not None
             else await asyncio.to_thread(_latest, svc))

    async def events() -> AsyncIterator[str]:
        last, idle = start, 0.0
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            fresh = await asyncio.to_thread(_after, svc, last)
            for alert in fresh:
                last = alert["id"]
                yield f"id: {last}\nevent: alert\ndata: {json.dumps(alert)}\n\n"
            idle = 0.0 if fresh else idle + POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/{alert_id}", summary="One alert")
def get_alert(alert_id: Index, _: Principal = Depends(require(Permission.ALERT_READ)),
              svc: Coordinator = Depends(service)) -> dict[str, Any]:
    with svc.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise not_found(f"alert {alert_id}")
        return alert_view(alert)


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$")


def _handle(svc: Coordinator, alert_id: int, who: Principal, state: str,
            allowed_from: tuple[str, ...], assign: str | None = None) -> dict[str, Any]:
    with svc.session() as session:
        alert = session.get(Alert, alert_id, with_for_update=True)
        if alert is None:
            raise not_found(f"alert {alert_id}")
        if alert.state not in allowed_from:
            raise Problem(409, "Conflict", f"alert {alert_id} is {alert.state}", "wrong_state")
        if assign is not None:
            alert.assigned_to = assign
        else:
            alert.state, alert.handled_by, alert.handled_at = state, who.username, svc.clock()
        session.flush()
        return alert_view(alert)


@router.post("/{alert_id}/acknowledge", summary="Acknowledge an open alert")
def acknowledge(alert_id: Index, who: Principal = Depends(require(Permission.ALERT_HANDLE)),
                svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return _handle(svc, alert_id, who, "acknowledged", ("open",))


@router.post("/{alert_id}/close", summary="Close an alert that was dealt with")
def close(alert_id: Index, who: Principal = Depends(require(Permission.ALERT_HANDLE)),
          svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return _handle(svc, alert_id, who, "closed", ("open", "acknowledged"))


@router.post("/{alert_id}/assign", summary="Assign an alert to a control-room operator")
def assign(alert_id: Index, body: Assignment,
           who: Principal = Depends(require(Permission.ALERT_HANDLE)),
           svc: Coordinator = Depends(service)) -> dict[str, Any]:
    with svc.session() as session:
        user = session.get(User, body.username)
    if user is None or not user.active or not allows(user.role, Permission.ALERT_HANDLE):
        raise invalid(f"{body.username} is not an active user who handles alerts",
                      "not_an_operator")
    return _handle(svc, alert_id, who, "", ("open", "acknowledged"), assign=body.username)
