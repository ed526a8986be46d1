"""The control room's offline map: the city's outline (``basemap_file``, GeoJSON) and,
optionally, raster tiles the city hosts on this origin (``basemap_tiles``), drawn by the
vendored Leaflet (static/vendor/leaflet: no CDN, no tile server elsewhere; the pages' policy
loads nothing from another origin); each enrolled camera at its position with its field of
view, clustered when hundreds are close together, pulsing while it has open incidents (the
live feed, ``/alerts/stream``, says when to look again)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from coordinator.auth import Principal, require, service
from coordinator.basemap import read_outline
from coordinator.errors import Problem, not_found
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services import alerts, city_map, delivery_status
from coordinator.web.templates import PAGE_HEADERS, render

router = APIRouter(prefix="/control-room/map", tags=["pages"], include_in_schema=False)


@router.get("")
def city(request: Request, who: Principal = Depends(require(Permission.ALERT_READ)),
         svc: Coordinator = Depends(service)) -> Response:
    """The page, with the cameras as a table too (what the map shows, for a screen reader),
    and the status line of the alerts' actions (``coordinator.services.delivery_status``)."""
    settings = svc.settings
    return render(request, "city_map.html", who=who, cameras=city_map.cameras(svc),
                  latest=alerts.latest(svc), outline=settings.basemap_file is not None,
                  tiles=settings.basemap_tiles or "", delivery=delivery_status.shown(svc))


@router.get("/cameras.json")
def cameras(_: Principal = Depends(require(Permission.ALERT_READ)),
            svc: Coordinator = Depends(service)) -> JSONResponse:
    """The placed cameras (position, heading, field of view, open incidents), the others."""
    return JSONResponse(city_map.cameras(svc), headers=PAGE_HEADERS)


@router.get("/basemap.geojson")
def basemap(_: Principal = Depends(require(Permission.ALERT_READ)),
            svc: Coordinator = Depends(service)) -> JSONResponse:
    """The city's outline, checked again as it is read (the file may have been replaced since
    the coordinator started)."""
    path = svc.settings.basemap_file
    if path is None:
        raise not_found("basemap (basemap_file is not set)")
    try:
        outline = read_outline(path)
    except ValueError as exc:
        raise Problem(503, "Basemap unavailable", f"basemap_file: {exc}",
                      "bad_basemap") from None
    return JSONResponse(outline, media_type="application/geo+json", headers=PAGE_HEADERS)
