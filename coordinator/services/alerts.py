"""The control room's alert queue: list, read, acknowledge, assign, close; and what the live
feed reads. Alerts are anonymous node events: type, camera, zone, time, counts and site-local
tokens. Handling one is an ``alert_handled`` audit entry (as handling an incident is), logged
while its row is locked, before the change commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from audit.records import Action, Event, LegalBasis
from coordinator.alert_intake import alert_view
from coordinator.auth import Principal
from coordinator.db import Alert, User
from coordinator.errors import Problem, invalid, not_found
from coordinator.roles import Permission, allows
from coordinator.service import Coordinator


def listed(svc: Coordinator, limit: int, state: str | None, type: str | None,
           camera: str | None, site_id: str | None, assigned_to: str | None) -> dict[str, Any]:
    """The newest alerts matching each filter given."""
    query = select(Alert)
    for column, value in ((Alert.state, state), (Alert.type, type), (Alert.camera, camera),
                          (Alert.site_id, site_id), (Alert.assigned_to, assigned_to)):
        if value is not None:
            query = query.where(column == value)
    with svc.session() as session:
        rows = session.scalars(query.order_by(Alert.id.desc()).limit(limit)).all()
        return {"alerts": [alert_view(a) for a in rows]}


def after(svc: Coordinator, last: int, limit: int = 200) -> list[tuple[int, dict[str, Any]]]:
    """The open alerts after feed position ``last``, in commit order, each with its position
    (the live feed; ``coordinator.incident_revisions``: an alert committed late under a lower
    id still comes after every position a reader has seen)."""
    with svc.session() as session:
        rows = session.scalars(select(Alert).where(Alert.revision > last, Alert.state == "open")
                               .order_by(Alert.revision).limit(limit)).all()
        return [(int(a.revision or 0), alert_view(a)) for a in rows]


def latest(svc: Coordinator) -> int:
    """The live feed's newest position: a feed started here sends what is stored after."""
    with svc.session() as session:
        return int(session.scalar(select(func.max(Alert.revision))) or 0)


def shown(svc: Coordinator, alert_id: int) -> dict[str, Any]:
    with svc.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise not_found(f"alert {alert_id}")
        return alert_view(alert)


def handling(svc: Coordinator, who: Principal, outcome: str, sealed: dict[str, str]) -> int:
    """Log a step of the control room's work: public, who (pseudonym, role) and the step;
    sealed for the DPO, which alert or incident and the step's particulars. Where it happened
    stays out of the public log."""
    return svc.log(Event(actor=who.actor, action=Action.ALERT_HANDLED,
                         legal_basis=LegalBasis.STATUTE, purpose_code="control_room",
                         outcome=outcome, details=sealed))


def _handle(svc: Coordinator, alert_id: int, who: Principal, state: str,
            allowed_from: tuple[str, ...], assign: str | None = None) -> dict[str, Any]:
    with svc.session() as session:
        alert = session.get(Alert, alert_id, with_for_update=True)
        if alert is None:
            raise not_found(f"alert {alert_id}")
        if alert.state not in allowed_from:
            raise Problem(409, "Conflict", f"alert {alert_id} is {alert.state}", "wrong_state")
        if assign is not None and alert.assigned_to == assign:  # a no-op: no permanent entry
            raise Problem(409, "Conflict", f"alert {alert_id} is assigned to {assign}",
                          "no_change")
        handling(svc, who, "assigned" if assign is not None else state,
                 {"alert": str(alert_id)} | (
                     {"owner": svc.keys.pseudonym(assign)} if assign is not None else {}))
        if assign is not None:
            alert.assigned_to = assign
        else:
            alert.state, alert.handled_by, alert.handled_at = state, who.username, svc.clock()
        session.flush()
        return alert_view(alert)


def acknowledge(svc: Coordinator, who: Principal, alert_id: int) -> dict[str, Any]:
    return _handle(svc, alert_id, who, "acknowledged", ("open",))


def close(svc: Coordinator, who: Principal, alert_id: int) -> dict[str, Any]:
    return _handle(svc, alert_id, who, "closed", ("open", "acknowledged"))


def assign(svc: Coordinator, who: Principal, alert_id: int, username: str) -> dict[str, Any]:
    """Assign an alert to an active user who handles alerts."""
    with svc.session() as session:
        user = session.get(User, username)
    if user is None or not user.active or not allows(user.role, Permission.ALERT_HANDLE):
        raise invalid(f"{username} is not an active user who handles alerts",
                      "not_an_operator")
    return _handle(svc, alert_id, who, "", ("open", "acknowledged"), assign=username)
