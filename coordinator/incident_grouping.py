"""Alerts into incidents, at intake, in the transaction that stores the alerts.

An alert joins the current incident of its key (the node that sent it, its site, camera, rule,
type, and the zone or line) when
its event time is at most the window after the incident's last one; otherwise, or when the
key has no current incident (none yet, or the last one was closed), it opens a new incident.

Two intake workers may take batches for the same key at once. Each locks the key's current
incident (``SELECT ... FOR UPDATE``, keys in sorted order so that two batches never wait on each
other) before it counts an alert in; where there is none to lock, both may insert one, and the
unique constraint on the current incident of a key (``uq_incidents_current``) fails the second
insert: its whole transaction, alerts included, is rolled back and the batch is taken again
(``coordinator.alert_intake.accept``), when it finds the first worker's incident."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db import Alert, Incident
from coordinator.service import as_utc
from coordinator.severity import severity

# node, site, camera, rule, type, zone or line: the node, since two nodes of a site may name a
# camera alike and one must not feed (or hold open) the other's incident; the type, since a
# rule id reused for another type (a weapon after an occupancy alert, by a changed
# configuration or a node that lies) must not hide in an incident already handled
Key = tuple[str, str, str, str, str, str]


def key_of(alert: Alert) -> Key:
    # a device's alert has no node: its device stands in (``coordinator.device_intake``)
    return (alert.node_id or f"device:{alert.device_id}", alert.site_id, alert.camera,
            alert.rule, alert.type, alert.zone or alert.line or "")


def joins(last_seen: datetime, time: datetime, window: timedelta) -> bool:
    """Whether an alert at ``time`` belongs to an incident last seen at ``last_seen``: at most
    ``window`` after it (an alert from before it, delivered late, belongs too)."""
    return as_utc(time) - as_utc(last_seen) <= window


def _current(session: Session, key: Key) -> Incident | None:
    node, site, camera, rule, type_, place = key
    return session.scalars(select(Incident).where(
        Incident.node_id == node, Incident.site_id == site, Incident.camera == camera,
        Incident.rule == rule, Incident.type == type_, Incident.place == place,
        Incident.current.is_(True)).with_for_update()).first()


def _opened(session: Session, key: Key, alert: Alert) -> Incident:
    node, site, camera, rule, type_, place = key
    incident = Incident(node_id=node, site_id=site, camera=camera, rule=rule, place=place,
                        type=type_, severity=severity(type_), state="new", first_seen=alert.time,
                        last_seen=alert.time, alert_count=0, current=True,
                        latitude=alert.latitude, longitude=alert.longitude)
    session.add(incident)
    session.flush()
    return incident


def attach(session: Session, alerts: Sequence[Alert], window: timedelta) -> list[int]:
    """Put each alert (already flushed) in its incident, in event-time order; the ids of the
    incidents touched."""
    keys = sorted({key_of(a) for a in alerts})
    current = {key: _current(session, key) for key in keys}  # locked in one order
    touched: list[int] = []
    for alert in sorted(alerts, key=lambda a: (as_utc(a.time), a.seq)):
        key = key_of(alert)
        incident = current[key]
        if incident is None or not joins(incident.last_seen, alert.time, window):
            if incident is not None:
                incident.current = None  # it stays open for the operator; new alerts go on
                session.flush()
            incident = current[key] = _opened(session, key, alert)
        incident.alert_count += 1
        incident.first_seen = min(as_utc(incident.first_seen), as_utc(alert.time))
        incident.last_seen = max(as_utc(incident.last_seen), as_utc(alert.time))
        alert.incident_id = incident.id
        if incident.id not in touched:
            touched.append(incident.id)
    return touched
