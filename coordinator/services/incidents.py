"""The control room's incidents: list them (filters, paging, counts per state), read one with
its alerts and their evidence, acknowledge, assign, close with a note.

Every state change is an ``alert_handled`` audit entry, logged before the change is
committed (while the incident's row is locked, so two operators cannot both acknowledge it).
The entry carries no more than needed: the operator's pseudonym and role and the new state in
public; the incident's id, the assignee's pseudonym and the SHA-256 of a closing note sealed for
the DPO. The note itself stays with the incident: it may describe people, and the permanent log
is no place for that; its digest shows whether it was changed afterwards.

The incident's alerts follow it (acknowledged, assigned, closed), so that the alert queue and
the cameras' open counts agree with the incidents."""

from __future__ import annotations

import hashlib

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from coordinator import evidence
from coordinator.alert_intake import alert_view
from coordinator.auth import Principal
from coordinator.db import Alert, Incident, User
from coordinator.errors import Problem, invalid, not_found
from coordinator.incident_revisions import number
from coordinator.roles import Permission, allows
from coordinator.service import Coordinator
from coordinator.services.alerts import handling
from coordinator.services.incident_views import (
    IncidentChange,
    IncidentDetail,
    IncidentPage,
    IncidentView,
)
from coordinator.services.requests import INCIDENT_STATES, IncidentFilter, IncidentState

_HANDLED_FROM: dict[IncidentState, tuple[str, ...]] = {
    "acknowledged": ("new",),
    "assigned": ("new", "acknowledged", "assigned"),
    "closed": ("new", "acknowledged", "assigned"),
}
# what the incident's alerts become, and from which of their states
_ALERTS_FOLLOW: dict[IncidentState, tuple[str, tuple[str, ...]]] = {
    "acknowledged": ("acknowledged", ("open",)),
    "closed": ("closed", ("open", "acknowledged")),
}


def _matching(wanted: IncidentFilter) -> list[ColumnElement[bool]]:
    """The filter's conditions but the state (the counts per state ignore that one)."""
    conditions = [column == value for column, value in (
        (Incident.site_id, wanted.site_id), (Incident.camera, wanted.camera),
        (Incident.type, wanted.type)) if value is not None]
    if wanted.since is not None:
        conditions.append(Incident.last_seen >= wanted.since)
    if wanted.until is not None:
        conditions.append(Incident.first_seen <= wanted.until)
    return conditions


def listed(svc: Coordinator, wanted: IncidentFilter) -> IncidentPage:
    """A page of the matching incidents, the newest last seen first."""
    matching = _matching(wanted)
    chosen = select(Incident).where(*matching)
    if wanted.state is not None:
        chosen = chosen.where(Incident.state == wanted.state)
    with svc.session() as session:
        total = int(session.scalar(select(func.count()).select_from(chosen.subquery())) or 0)
        rows = session.scalars(chosen.order_by(Incident.last_seen.desc(), Incident.id.desc())
                               .limit(wanted.limit).offset(wanted.offset)).all()
        per_state = {state: int(n) for state, n in session.execute(
            select(Incident.state, func.count()).where(*matching).group_by(Incident.state))}
        return IncidentPage(incidents=[IncidentView.of(r) for r in rows], total=total,
                            limit=wanted.limit, offset=wanted.offset,
                            counts={s: per_state.get(s, 0) for s in INCIDENT_STATES})


def shown(svc: Coordinator, incident_id: int) -> IncidentDetail:
    with svc.session() as session:
        row = session.get(Incident, incident_id)
        if row is None:
            raise not_found(f"incident {incident_id}")
        alerts = session.scalars(select(Alert).where(Alert.incident_id == incident_id)
                                 .order_by(Alert.time, Alert.id)).all()
        detail = IncidentView.of(row).model_dump()
        shown_alerts = [alert_view(a) for a in alerts]
    return IncidentDetail(**detail, alerts=shown_alerts,
                          evidence=evidence.of_incident(svc, incident_id))


def changed_after(svc: Coordinator, revision: int, limit: int = 200) -> list[IncidentChange]:
    """The incidents opened or changed after ``revision``, in revision order (the live feed);
    an incident changed twice since is sent once, as it is now."""
    with svc.session() as session:
        rows = session.scalars(select(Incident).where(Incident.revision > revision)
                               .order_by(Incident.revision).limit(limit)).all()
        return [IncidentChange.of(r) for r in rows]


def latest_revision(svc: Coordinator) -> int:
    with svc.session() as session:
        return int(session.scalar(select(func.max(Incident.revision))) or 0)


def _locked(session: Session, incident_id: int, state: IncidentState) -> Incident:
    row = session.get(Incident, incident_id, with_for_update=True)
    if row is None:
        raise not_found(f"incident {incident_id}")
    if row.state not in _HANDLED_FROM[state]:
        raise Problem(409, "Conflict", f"incident {incident_id} is {row.state}", "wrong_state")
    return row


def _handle(svc: Coordinator, who: Principal, incident_id: int, state: IncidentState,
            sealed: dict[str, str], owner: str | None = None,
            note: str | None = None) -> IncidentView:
    """Lock, check, log, then change the incident and its alerts, in one transaction."""
    with svc.session() as session:
        row = _locked(session, incident_id, state)
        if owner is not None:
            # checked under a lock on the user too: one deactivated meanwhile is not assigned
            user = session.get(User, owner, with_for_update=True)
            if user is None or not user.active or not allows(user.role,
                                                             Permission.ALERT_HANDLE):
                raise invalid(f"{owner} is not an active user who handles alerts",
                              "not_an_operator")
            if row.owner == owner:  # a no-op: no permanent entry for it
                raise Problem(409, "Conflict", f"incident {incident_id} is assigned to {owner}",
                              "no_change")
        handling(svc, who, state, {"incident": str(incident_id), **sealed})
        now = svc.clock()
        row.state, row.handled_by, row.handled_at = state, who.username, now
        if owner is not None:
            row.owner = owner
            session.execute(update(Alert).where(Alert.incident_id == incident_id,
                                                Alert.state.in_(("open", "acknowledged")))
                            .values(assigned_to=owner))
        if note is not None:
            row.note = note
        if state == "closed":
            row.current = None  # a later alert of its key opens a new incident
        if state in _ALERTS_FOLLOW:
            becomes, before = _ALERTS_FOLLOW[state]
            session.execute(update(Alert).where(Alert.incident_id == incident_id,
                                                Alert.state.in_(before))
                            .values(state=becomes, handled_by=who.username, handled_at=now))
        session.flush()
        number(session, [row])
        return IncidentView.of(row)


def acknowledge(svc: Coordinator, who: Principal, incident_id: int) -> IncidentView:
    return _handle(svc, who, incident_id, "acknowledged", {})


def assign(svc: Coordinator, who: Principal, incident_id: int, username: str) -> IncidentView:
    """Assign an incident to an active user who handles alerts (again: to another one)."""
    return _handle(svc, who, incident_id, "assigned",
                   {"owner": svc.keys.pseudonym(username)}, owner=username)


def close(svc: Coordinator, who: Principal, incident_id: int, note: str) -> IncidentView:
    return _handle(svc, who, incident_id, "closed",
                   {"note_sha256": hashlib.sha256(note.encode()).hexdigest()}, note=note)
