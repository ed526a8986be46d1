"""What the incident API answers (its response models, apart from the bodies it takes in
``coordinator.services.requests``): an incident, a page of them with the counts per state, one
with its alerts and their evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from coordinator.db import Incident
from coordinator.evidence import EvidenceView
from coordinator.service import as_utc
from coordinator.services.requests import IncidentState
from coordinator.severity import Severity


class IncidentView(BaseModel):
    id: int
    node_id: str
    site_id: str
    camera: str
    rule: str
    type: str
    place: str  # the zone or line; "" for neither
    severity: Severity
    state: IncidentState
    first_seen: datetime
    last_seen: datetime
    alert_count: int
    owner: str | None
    note: str | None
    handled_by: str | None
    handled_at: datetime | None

    @classmethod
    def of(cls, row: Incident) -> IncidentView:
        return cls(id=row.id, node_id=row.node_id, site_id=row.site_id, camera=row.camera,
                   rule=row.rule, type=row.type, place=row.place, severity=row.severity,  # type: ignore[arg-type]
                   state=row.state,  # type: ignore[arg-type]
                   first_seen=as_utc(row.first_seen), last_seen=as_utc(row.last_seen),
                   alert_count=row.alert_count, owner=row.owner, note=row.note,
                   handled_by=row.handled_by,
                   handled_at=as_utc(row.handled_at) if row.handled_at else None)


class IncidentChange(BaseModel):
    """What the live feed says of an incident opened or changed (``event: incident``): no more
    than the list shows of it, and less (no zone, owner or note): enough to update a row and
    the counts, and to say what happened where."""

    id: int
    revision: int  # the feed's event id (``coordinator.incident_revisions``)
    change: Literal["new", "updated"]
    state: IncidentState
    alert_count: int
    last_seen: datetime
    severity: Severity
    site_id: str
    camera: str
    type: str

    @classmethod
    def of(cls, row: Incident) -> IncidentChange:
        assert row.revision is not None  # numbered before its transaction commits
        return cls(id=row.id, revision=row.revision,
                   change="new" if row.revision == row.opened_revision else "updated",
                   state=row.state, alert_count=row.alert_count,  # type: ignore[arg-type]
                   last_seen=as_utc(row.last_seen), severity=row.severity,  # type: ignore[arg-type]
                   site_id=row.site_id, camera=row.camera, type=row.type)


class IncidentPage(BaseModel):
    """One page of the incidents matching a filter, newest last seen first; ``total`` counts
    them all, ``counts`` counts them per state under the filter's other conditions."""

    incidents: list[IncidentView]
    total: int
    limit: int
    offset: int
    counts: dict[IncidentState, int]


class IncidentDetail(IncidentView):
    alerts: list[dict[str, Any]]  # as ``GET /alerts/{id}`` shows each, oldest first
    evidence: list[EvidenceView]  # the pictures at ``/incidents/{id}/evidence/{evidence}.jpg``
