"""The video wall: a grid of live views (1x1 to 4x4) that an operator arranges, a camera per
tile chosen from a list (keyboard first; tiles can also be dragged), and saves on the server;
an incident that the live feed (``/alerts/stream``) brings pops its camera onto the wall,
highlighted. The pictures are the control room's live views (``/control-room/live/...``: the
newest snapshot each node sent after redaction), under the same permission: the wall adds no
other way for pictures to leave a site, it only chooses which of them to show."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from coordinator.auth import Principal, require, service
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services import alerts, delivery_status, wall_layouts
from coordinator.services.requests import WALL_SIZES, WallArrangement
from coordinator.web.templates import PAGE_HEADERS, render

router = APIRouter(prefix="/control-room/wall", tags=["pages"], include_in_schema=False)


@router.get("")
def wall(request: Request, who: Principal = Depends(require(Permission.ALERT_READ)),
         svc: Coordinator = Depends(service)) -> Response:
    """The page; its script builds the grid from the saved arrangement and the cameras (their
    snapshot times in the city's time zone, as the control room shows times), and the status
    line of the alerts' actions (``coordinator.services.delivery_status``)."""
    return render(request, "wall.html", who=who, sizes=WALL_SIZES, latest=alerts.latest(svc),
                  zone=svc.settings.time_zone, delivery=delivery_status.shown(svc))


@router.get("/cameras")
def cameras(_: Principal = Depends(require(Permission.ALERT_READ)),
            svc: Coordinator = Depends(service)) -> JSONResponse:
    """The cameras a tile can show, with their newest snapshot's time (null: none yet)."""
    return JSONResponse({"cameras": wall_layouts.cameras(svc)}, headers=PAGE_HEADERS)


@router.get("/layout")
def layout(who: Principal = Depends(require(Permission.ALERT_READ)),
           svc: Coordinator = Depends(service)) -> JSONResponse:
    """The operator's saved wall (or the default one)."""
    return JSONResponse(wall_layouts.saved(svc, who.username).model_dump(),
                        headers=PAGE_HEADERS)


@router.put("/layout")
def save(body: WallArrangement, who: Principal = Depends(require(Permission.ALERT_READ)),
         svc: Coordinator = Depends(service)) -> dict[str, Any]:
    """Keep the operator's wall (a session's request carries its CSRF token)."""
    return wall_layouts.save(svc, who.username, body).model_dump()
