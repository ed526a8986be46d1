"""``/incidents``: the control room's incidents (alerts grouped at intake): list with filters,
paging and counts per state, one with its alerts and their evidence, a piece of evidence's
redacted picture (each look logged), acknowledge, assign, close with a note, and their live feed
(server-sent events). The same permissions as ``/alerts``; the use cases are in
``coordinator.services.incidents`` and ``coordinator.evidence``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi import Query as QueryParam
from fastapi.responses import Response, StreamingResponse

from audit.routes import MAX_INDEX, Index
from coordinator import evidence
from coordinator.auth import Principal, require, service
from coordinator.roles import Permission
from coordinator.server_sent_events import feed, resume_point
from coordinator.service import Coordinator
from coordinator.services import incidents
from coordinator.services.incident_views import IncidentDetail, IncidentPage, IncidentView
from coordinator.services.requests import Assignment, Closing, IncidentFilter
from coordinator.web.templates import PAGE_HEADERS

router = APIRouter(prefix="/incidents", tags=["incidents"])


@router.get("", summary="Incidents, newest last seen first, with the counts per state")
def list_incidents(wanted: Annotated[IncidentFilter, QueryParam()],
                   _: Principal = Depends(require(Permission.ALERT_READ)),
                   svc: Coordinator = Depends(service)) -> IncidentPage:
    return incidents.listed(svc, wanted)


@router.get("/stream", summary="Incidents as they open and change (server-sent events)",
            response_class=StreamingResponse)
async def stream(request: Request,
                 after: int | None = QueryParam(default=None, ge=0, le=MAX_INDEX),
                 last_event_id: str | None = Header(default=None),
                 _: Principal = Depends(require(Permission.ALERT_READ)),
                 svc: Coordinator = Depends(service)) -> StreamingResponse:
    """Each incident opened or changed (an alert joined it, an operator handled it), as
    ``event: incident`` with its revision for id: ``change`` is ``new`` or ``updated``. A
    reconnecting client sends Last-Event-ID (or ``?after=``) and gets each incident changed
    since, once, as it is now. A comment line keeps idle connections open."""
    start = resume_point(last_event_id, after, "an incident revision")
    if start is None:
        start = await asyncio.to_thread(incidents.latest_revision, svc)
    return feed(request, start, "incident",
                lambda last: [(c.revision, c.model_dump(mode="json"))
                              for c in incidents.changed_after(svc, last)])


@router.get("/{incident_id}", summary="One incident with its alerts")
def get_incident(incident_id: Index, _: Principal = Depends(require(Permission.ALERT_READ)),
                 svc: Coordinator = Depends(service)) -> IncidentDetail:
    return incidents.shown(svc, incident_id)


@router.get("/{incident_id}/evidence/{evidence_id}.jpg",
            summary="A piece of an incident's evidence: the redacted snapshot its node signed",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def evidence_picture(incident_id: Index, evidence_id: Index,
                     who: Principal = Depends(require(Permission.ALERT_READ)),
                     svc: Coordinator = Depends(service)) -> Response:
    return Response(evidence.picture(svc, who, incident_id, evidence_id), media_type="image/jpeg",
                    headers=PAGE_HEADERS)


@router.post("/{incident_id}/acknowledge", summary="Acknowledge a new incident")
def acknowledge(incident_id: Index, who: Principal = Depends(require(Permission.ALERT_HANDLE)),
                svc: Coordinator = Depends(service)) -> IncidentView:
    return incidents.acknowledge(svc, who, incident_id)


@router.post("/{incident_id}/assign", summary="Assign an open incident to an operator")
def assign(incident_id: Index, body: Assignment,
           who: Principal = Depends(require(Permission.ALERT_HANDLE)),
           svc: Coordinator = Depends(service)) -> IncidentView:
    return incidents.assign(svc, who, incident_id, body.username)


@router.post("/{incident_id}/close", summary="Close an incident, with a note on what was done")
def close(incident_id: Index, body: Closing,
          who: Principal = Depends(require(Permission.ALERT_HANDLE)),
          svc: Coordinator = Depends(service)) -> IncidentView:
    return incidents.close(svc, who, incident_id, body.note)
