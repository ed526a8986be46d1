"""What the control room's offline map shows: each enrolled camera where its enrolment placed
it (position, heading, field of view), whether its node is active, and its open incidents
(new, acknowledged or assigned: what still needs someone), so that a camera with one pulses.
A camera enrolled without a placement is listed apart, by name, so that the operator knows the
map is missing it rather than that it does not exist. An open incident from one of the city's
devices (an SOS press, a sensor's threshold crossing: ``coordinator.device_intake``) is shown
at the device's position, which the incident carries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from coordinator.db import Incident, Node
from coordinator.service import Coordinator


def cameras(svc: Coordinator) -> dict[str, list[dict[str, Any]]]:
    """``placed``: the cameras with a position, ``unplaced``: those without (site, camera);
    ``devices``: the devices with open incidents, where they stand."""
    with svc.session() as session:
        open_ = {(n, c): int(k) for n, c, k in session.execute(
            select(Incident.node_id, Incident.camera, func.count())
            .where(Incident.state != "closed")
            .group_by(Incident.node_id, Incident.camera)).all()}
        nodes = session.scalars(select(Node).order_by(Node.site_id, Node.node_id)).all()
        placed, unplaced = [], []
        for node in nodes:
            where = {p["camera"]: p for p in node.camera_placements or []}
            for camera in node.cameras:
                entry = {"node_id": node.node_id, "site": node.site_id, "camera": camera,
                         "active": node.active, "open": open_.get((node.node_id, camera), 0)}
                if camera in where:
                    placement = where[camera]
                    placed.append({**entry, **{k: placement[k] for k in (
                        "latitude", "longitude", "heading", "field_of_view", "range_m")}})
                else:
                    unplaced.append(entry)
        devices = [{"device": device, "site": site, "type": type_, "latitude": lat,
                    "longitude": lon, "open": int(k)}
                   for device, site, type_, lat, lon, k in session.execute(
                       select(Incident.camera, Incident.site_id, Incident.type,
                              Incident.latitude, Incident.longitude, func.count())
                       .where(Incident.state != "closed", Incident.latitude.is_not(None),
                              Incident.longitude.is_not(None))
                       .group_by(Incident.camera, Incident.site_id, Incident.type,
                                 Incident.latitude, Incident.longitude)
                       .order_by(Incident.site_id, Incident.camera)).all()]
    return {"placed": placed, "unplaced": unplaced, "devices": devices}
