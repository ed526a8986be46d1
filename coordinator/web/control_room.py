"""The control room: the incidents (alerts grouped at intake) with filters, paging and the
counts per state, refreshed when the live feed (server-sent events from ``/incidents/stream``
under the page's session) says one opened or changed, times in the city's time zone; a
schematic map of the sites and their cameras with their state and open incidents
(``coordinator.web.camera_map``), each camera's latest alert, and its live view: the newest
snapshot its node sent after redaction (faces and plates hidden at the site; the raw frame
never leaves it). Each incident's evidence view: its alerts' redacted snapshots, the
triggering object's box drawn, with the node's signature checked again. A status line says
whether the alerts' actions reach the MQTT broker and the webhooks
(``coordinator.services.delivery_status``; ``static/delivery_status.js`` asks again)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from coordinator import evidence, evidence_clips
from coordinator.auth import Principal, require, service
from coordinator.db import Alert, Incident, Node
from coordinator.errors import invalid, not_found
from coordinator.live_views import live_view, look
from coordinator.roles import Permission, allows
from coordinator.service import Coordinator, as_utc
from coordinator.services import delivery_status, incidents
from coordinator.services.requests import INCIDENT_STATES, IncidentFilter
from coordinator.web.camera_map import layout
from coordinator.web.city_time import instant, shown, wall_clock
from coordinator.web.templates import PAGE_HEADERS, render
from kernel.errors import describe

_SAFE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,127}")

PAGE_SIZE = 25
router = APIRouter(prefix="/control-room", tags=["pages"], include_in_schema=False)


def camera_states(svc: Coordinator) -> list[dict[str, Any]]:
    """Each enrolled camera: its site, whether its node is active, its open incidents (not
    closed: new, acknowledged or assigned), its last alert."""
    with svc.session() as session:
        opened = {f"{c}@{s}": n for c, s, n in session.execute(
            select(Incident.camera, Incident.site_id, func.count())
            .where(Incident.state != "closed")
            .group_by(Incident.camera, Incident.site_id)).all()}
        latest = {f"{c}@{s}": t for c, s, t in session.execute(
            select(Alert.camera, Alert.site_id, func.max(Alert.time))
            .group_by(Alert.camera, Alert.site_id)).all()}
        out = []
        for node in session.scalars(select(Node).order_by(Node.site_id, Node.node_id)):
            for camera in node.cameras:
                key = f"{camera}@{node.site_id}"
                last = latest.get(key)
                view = live_view(svc, node.node_id, camera)
                out.append({"site": node.site_id, "node_id": node.node_id, "camera": camera,
                            "active": node.active, "open": int(opened.get(key, 0)),
                            "last_alert": as_utc(last) if last else None,
                            "live": datetime.fromisoformat(view.time) if view else None,
                            "snapshot": view.time if view else None})
    return out


@router.get("/live/{node_id}/{camera}.jpg")
def live_picture(node_id: str, camera: str,
                 who: Principal = Depends(require(Permission.ALERT_READ)),
                 svc: Coordinator = Depends(service)) -> Response:
    """A camera's newest redacted snapshot, as its node sent it; the opening of each
    operator's look at it is logged (``coordinator.live_views.look``)."""
    if not (_SAFE.fullmatch(node_id) and _SAFE.fullmatch(camera)):
        raise not_found(f"live view of {camera[:64]}")
    view = live_view(svc, node_id, camera)
    if view is None:
        raise not_found(f"live view of {camera} at {node_id}")
    look(svc, who, node_id, camera)
    return FileResponse(view.path, media_type="image/jpeg",
                        headers={**PAGE_HEADERS, "X-Snapshot-Time": view.time})


@router.get("/incidents/{incident_id}")
def evidence_view(request: Request, incident_id: int = Path(ge=0, le=2**31 - 1),
                  who: Principal = Depends(require(Permission.ALERT_READ)),
                  svc: Coordinator = Depends(service)) -> Response:
    """One incident, its alerts and their evidence (each picture's fetch is logged), and per
    alert with evidence its clip: a button to request it, its state, and a flip-book player of
    its frames (``static/evidence_clips.js``)."""
    zone = svc.settings.time_zone

    def moment(value: datetime | str) -> datetime:  # an alert's time is its RFC 3339 text
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    return render(request, "evidence.html", who=who, incident=incidents.shown(svc, incident_id),
                  clips=evidence_clips.of_incident(svc, incident_id), zone=zone,
                  shown=lambda value: shown(moment(value), zone),
                  shown_iso=lambda value: instant(moment(value), zone))


@router.get("")
def control_room(request: Request, site_id: str = Query("", max_length=64),
                 camera: str = Query("", max_length=64), type: str = Query("", max_length=32),
                 state: str = Query("", max_length=16), since: str = Query("", max_length=32),
                 until: str = Query("", max_length=32),
                 offset: int = Query(0, ge=0, le=1_000_000),
                 who: Principal = Depends(require(Permission.ALERT_READ)),
                 svc: Coordinator = Depends(service)) -> Response:
    """The incidents matching the form's filters (a GET form: filtering and paging work
    without a script), the counts per state, and the cameras."""
    zone = svc.settings.time_zone
    try:
        wanted = IncidentFilter.model_validate({
            "site_id": site_id or None, "camera": camera or None, "type": type or None,
            "state": state or None, "since": wall_clock(since, zone, "since"),
            "until": wall_clock(until, zone, "until"), "limit": PAGE_SIZE, "offset": offset})
    except ValidationError as exc:
        raise invalid(describe(exc)) from None
    page = incidents.listed(svc, wanted)
    pictures = evidence.counts(svc, [i.id for i in page.incidents])
    with svc.session() as session:
        types = sorted(session.scalars(select(Incident.type).distinct()))
    latest = incidents.latest_revision(svc)  # the live feed starts after it
    cameras = camera_states(svc)
    sites = sorted({c["site"] for c in cameras})
    drawn = layout(cameras)
    form = {"site_id": site_id, "camera": camera, "type": type, "state": state,
            "since": since, "until": until}
    kept = {k: v for k, v in form.items() if v}
    return render(request, "control_room.html", who=who, page=page, cameras=cameras,
                  sites=sites, map=drawn, types=types, states=INCIDENT_STATES, form=form,
                  latest=latest, pictures=pictures,
                  zone=zone, shown=lambda moment: shown(moment, zone),
                  shown_iso=lambda moment: instant(moment, zone),
                  previous=urlencode({**kept, "offset": max(0, offset - PAGE_SIZE)})
                  if offset else None,
                  following=urlencode({**kept, "offset": offset + PAGE_SIZE})
                  if offset + PAGE_SIZE < page.total else None,
                  can_handle=allows(who.role, Permission.ALERT_HANDLE),
                  delivery=delivery_status.shown(svc))
