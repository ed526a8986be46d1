"""The video wall each operator arranges: the enrolled cameras it can show, each with the time
of its newest redacted snapshot (so that the wall asks for a picture only when there is a new
one, and starts showing a camera whose first snapshot arrives after the page loaded), and the
arrangement an operator saved (one per operator, checked against the enrolled cameras)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from coordinator.db import Node, WallLayout
from coordinator.errors import invalid
from coordinator.live_views import live_view
from coordinator.service import Coordinator
from coordinator.services.requests import WallArrangement


def cameras(svc: Coordinator) -> list[dict[str, Any]]:
    """The cameras of active nodes, as a wall tile names them, with their newest snapshot's
    time (null before the first one)."""
    with svc.session() as session:
        nodes = session.scalars(select(Node).where(Node.active)
                                .order_by(Node.site_id, Node.node_id)).all()
        enrolled = [(n.node_id, n.site_id, c) for n in nodes for c in n.cameras]
    out = []
    for node_id, site, camera in enrolled:
        view = live_view(svc, node_id, camera)
        out.append({"tile": f"{node_id}/{camera}", "node_id": node_id, "site": site,
                    "camera": camera, "snapshot": view.time if view else None})
    return out


def default(known: list[dict[str, Any]]) -> WallArrangement:
    """Before an operator saves one: the smallest grid that holds every camera (up to 4x4)."""
    size = next((s for s in (1, 2, 3, 4) if s * s >= len(known)), 4)
    tiles: list[str | None] = [c["tile"] for c in known[:size * size]]
    return WallArrangement(size=size, tiles=tiles + [None] * (size * size - len(tiles)))


def saved(svc: Coordinator, username: str) -> WallArrangement:
    """The operator's saved wall, its tiles of cameras no longer enrolled emptied; else the
    default."""
    known = cameras(svc)
    with svc.session() as session:
        row = session.get(WallLayout, username)
        layout = None if row is None else dict(row.layout)
    if layout is None:
        return default(known)
    tiles = {c["tile"] for c in known}
    arrangement = WallArrangement.model_validate(layout)
    return arrangement.model_copy(update={
        "tiles": [t if t in tiles else None for t in arrangement.tiles]})


def save(svc: Coordinator, username: str, arrangement: WallArrangement) -> WallArrangement:
    """Keep ``arrangement`` as the operator's wall; 422 naming a tile's camera that is not
    enrolled (or whose node is withdrawn)."""
    tiles = {c["tile"] for c in cameras(svc)}
    unknown = sorted({t for t in arrangement.tiles if t is not None} - tiles)
    if unknown:
        raise invalid(f"not an enrolled camera: {', '.join(unknown)}", "unknown_camera")
    with svc.session() as session:
        session.merge(WallLayout(username=username, layout=arrangement.model_dump(),
                                 saved_at=svc.clock()))
    return arrangement
