"""The control room: the alert queue updating live (server-sent events from ``/alerts/stream``
under the page's session), a schematic map of the sites and their cameras with their state,
each camera's latest alert, and its live view: the newest snapshot its node sent after
redaction (faces and plates hidden at the site; the raw frame never leaves it)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import func, select

from coordinator.alert_intake import alert_view
from coordinator.auth import Principal, require, service
from coordinator.db import Alert, Node
from coordinator.errors import not_found
from coordinator.live_views import live_view
from coordinator.roles import Permission, allows
from coordinator.service import Coordinator, as_utc
from coordinator.web.templates import PAGE_HEADERS, render

_SAFE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,127}")

router = APIRouter(prefix="/control-room", tags=["pages"], include_in_schema=False)


def camera_states(svc: Coordinator) -> list[dict[str, Any]]:
    """Each enrolled camera: its site, whether its node is active, open alerts, last alert."""
    with svc.session() as session:
        opened = {f"{c}@{s}": n for c, s, n in session.execute(
            select(Alert.camera, Alert.site_id, func.count())
            .where(Alert.state == "open").group_by(Alert.camera, Alert.site_id)).all()}
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
                            "last_alert": as_utc(last).isoformat() if last else None,
                            "live": view.time if view else None})
    return out


@router.get("/live/{node_id}/{camera}.jpg")
def live_picture(node_id: str, camera: str,
                 _: Principal = Depends(require(Permission.ALERT_READ)),
                 svc: Coordinator = Depends(service)) -> Response:
    """A camera's newest redacted snapshot, as its node sent it."""
    if not (_SAFE.fullmatch(node_id) and _SAFE.fullmatch(camera)):
        raise not_found(f"live view of {camera[:64]}")
    view = live_view(svc, node_id, camera)
    if view is None:
        raise not_found(f"live view of {camera} at {node_id}")
    return FileResponse(view.path, media_type="image/jpeg",
                        headers={**PAGE_HEADERS, "X-Snapshot-Time": view.time})


@router.get("")
def control_room(request: Request, who: Principal = Depends(require(Permission.ALERT_READ)),
                 svc: Coordinator = Depends(service)) -> Response:
    with svc.session() as session:
        queue = [alert_view(a) for a in session.scalars(
            select(Alert).where(Alert.state.in_(("open", "acknowledged")))
            .order_by(Alert.id.desc()).limit(100))]
    latest = max((a["id"] for a in queue), default=0)
    with svc.session() as session:
        latest = max(latest, int(session.scalar(select(func.max(Alert.id))) or 0))
    cameras = camera_states(svc)
    sites = sorted({c["site"] for c in cameras})
    return render(request, "control_room.html", who=who, queue=queue, cameras=cameras,
                  sites=sites, latest=latest,
                  can_handle=allows(who.role, Permission.ALERT_HANDLE))
