"""Taking a node's signed event batch off the broker: check it came from the enrolled node, for
its own cameras, store each event once as an alert, put it in its incident
(``coordinator.incident_grouping``), and plan its webhook and MQTT deliveries, all in one
transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contract.events import COUNTED_TYPES, AnalyticsEvent, SignedEventBatch
from contract.queries import Signed
from coordinator import denials
from coordinator.action_rules import Choice, choose
from coordinator.db import Alert, Delivery, Incident, MqttDelivery, Node, Webhook
from coordinator.errors import EventsRejected, ReportRejected, signed_by
from coordinator.incident_grouping import attach
from coordinator.incident_revisions import number
from coordinator.intake_limit import (
    Refusal,
    decide,
    decided,
    lock,
    record,
    take,
    unaudited,
    unclaim,
)
from coordinator.service import Coordinator, as_utc
from kernel.errors import describe
from privacy.signing import VerifyKey

log = logging.getLogger(__name__)
# How far ahead of the coordinator's clock an event may be dated. A node signs its own event
# times, and one dated far in the future would stay the newest incident, hold its key open and
# outlive the retention period. More than the 2-minute clock skew tolerated for warrants and
# queries: a node dates events along its video (start + offset), and a recorded file runs
# faster than real time (a one-hour file at double speed ends 30 minutes ahead).
EVENTS_AHEAD = timedelta(hours=1)
# An event dated before the alerts the coordinator still keeps (``alert_retention_days``) is
# stale: housekeeping deletes alerts by their event's time, so such an event is either purged
# already or about to be, and a batch carrying it is a replay (anyone on the broker can send an
# old signed batch again; red team 3 stored 1,005 purged alerts again and used up the node's
# flood limit with them). It is neither stored nor charged to the node's bucket, and counted
# as an anonymous denial (``coordinator.denials``): the node signed it once, not now. A node
# offline for hours still delivers: only events past the retention period are stale.
STALE = "events_stale"
STALE_SOURCE = "broker"  # the source stale events are counted under (as the worker's refusals)
# Another worker may win a race for the same resend or the same new incident: the batch is
# taken again, and found stored or joined. Each retry needs a further concurrent winner.
ATTEMPTS = 4
MQTT_TARGET = "mqtt"  # the one broker of the settings' ``mqtt`` table
SIGNAGE_TARGET = "signage:"  # then a ``signage`` entry's name: its message, on that broker
LAMP_TARGET = "lamp:"  # then a lamp controller's id: "on", if its lamps are off when sent


def lamp_targets(svc: Coordinator, alert: Alert) -> list[str]:
    """A crowd (an occupancy alert of at least a lamp's ``crowd_count``) at a camera linked to
    lamp controllers: a lamp command for each, sent only if its lamps are off by then
    (``coordinator.mqtt``)."""
    iot = svc.settings.iot
    if iot is None or alert.type != "occupancy":
        return []
    return [LAMP_TARGET + lamp.id for lamp in iot.lamps_at(alert.site_id, alert.camera)
            if alert.count >= lamp.crowd_count]


def mqtt_targets(choice: Choice) -> list[str]:
    """The MQTT deliveries an alert's choice plans: its event, and one per sign."""
    return ([MQTT_TARGET] if choice.mqtt else []) + [SIGNAGE_TARGET + s for s in choice.signage]


@dataclass(frozen=True)
class Intake:
    alerts: list[int]
    deliveries: list[int]
    duplicates: int
    incidents: list[int]
    mqtt: list[int] = field(default_factory=list)
    refused: int = 0  # new events past the node's rate (``coordinator.intake_limit``)
    stale: int = 0  # events dated before the retention period: a replay, not stored


def alert_view(alert: Alert) -> dict[str, Any]:
    """What the control room, the live feed and webhooks see of an alert."""
    return {"id": alert.id, "node_id": alert.node_id, "site_id": alert.site_id,
            "type": alert.type, "rule": alert.rule, "camera": alert.camera, "zone": alert.zone,
            "line": alert.line, "direction": alert.direction,
            "time": as_utc(alert.time).isoformat(), "count": alert.count,
            "tokens": list(alert.tokens),
            "score": None if alert.score is None else alert.score / 1000,
            "received_at": as_utc(alert.received_at).isoformat(), "state": alert.state,
            "assigned_to": alert.assigned_to, "handled_by": alert.handled_by,
            "handled_at": as_utc(alert.handled_at).isoformat() if alert.handled_at else None,
            "incident_id": alert.incident_id, "device_id": alert.device_id,
            "reading": None if alert.reading is None else {
                "value": alert.reading, "unit": alert.unit, "threshold": alert.threshold,
                "time": as_utc(alert.time).isoformat()}}


def from_enrolled_node(svc: Coordinator, message: Signed, signature: str, node_id: str,
                       site: str, cameras: set[str], what: str,
                       rejected: type[ReportRejected] = EventsRejected) -> Node:
    """The active enrolled node that signed ``message``, at its own site, about its own
    cameras; else ``rejected`` saying which check failed."""
    with svc.session() as session:
        node = session.get(Node, node_id)
    if node is None or not node.active:
        raise rejected(f"{node_id} is not an enrolled node")
    if not message.signed_by(VerifyKey.parse(node.identity_key), signature):
        raise rejected(f"the {what} is not signed by the enrolled key of {node.node_id}")
    with signed_by(node.node_id):
        if site != node.site_id:
            raise rejected(f"{node.node_id} is enrolled at {node.site_id}, not {site}")
        unknown = sorted(cameras - set(node.cameras))
        if unknown:
            raise rejected(f"cameras not enrolled for {node.node_id}: {', '.join(unknown)}")
    return node


def verified_batch(svc: Coordinator, message: Any) -> tuple[SignedEventBatch, Node]:
    try:
        signed = SignedEventBatch.model_validate(message)
    except ValidationError as exc:
        raise EventsRejected(f"not an event batch: {describe(exc)}") from None
    batch = signed.batch
    node = from_enrolled_node(svc, batch, signed.signature, batch.node_id, batch.site,
                              {e.camera for e in batch.events}, "batch")
    latest = svc.clock() + EVENTS_AHEAD
    ahead = [e for e in batch.events if as_utc(e.time) > latest]
    if ahead:
        with signed_by(node.node_id):  # the node's own clock: it is accountable for it
            raise EventsRejected(
                f"event {ahead[0].seq} of {node.node_id} is dated "
                f"{as_utc(ahead[0].time).isoformat()}, over {EVENTS_AHEAD} after the "
                "coordinator's clock: set the node's clock (NTP)")
    return signed, node


def plan(svc: Coordinator, session: Session, alerts: Sequence[Alert], now: datetime
         ) -> tuple[list[Delivery], list[MqttDelivery]]:
    """Plan the actions of new open alerts (flushed), in their transaction: an alert stored
    is an alert published. The webhooks and MQTT messages the city's action rules choose
    (``coordinator.action_rules``), and the lamp commands of the crowd rule."""
    hooks = session.scalars(select(Webhook).where(Webhook.active)).all()
    chosen = {a.id: choose(svc.settings.actions, a.type, a.rule, a.site_id, a.camera)
              for a in alerts}
    deliveries = [Delivery(webhook_id=h.webhook_id, alert_id=a.id, state="pending",
                           touched_at=now)
                  for a in alerts for h in hooks
                  if (not h.types or a.type in h.types) and chosen[a.id].webhook(h.webhook_id)]
    published = [MqttDelivery(target=target, alert_id=a.id, state="pending", touched_at=now)
                 for a in alerts
                 for target in mqtt_targets(chosen[a.id]) + lamp_targets(svc, a)
                 ] if svc.settings.mqtt else []
    session.add_all([*deliveries, *published])
    session.flush()
    return deliveries, published


def accept(svc: Coordinator, message: Any) -> Intake:
    """Store a batch's new events; an event seen before (a resend) is counted, not stored; new
    events past the node's rate are refused, and the refusal logged and audited, once however
    often the batch is redelivered."""
    signed, node = verified_batch(svc, message)
    current, stale = fresh_events(svc, node, signed.batch.events)
    events, refused = _admitted(svc, node, current) if current else ([], 0)
    for _ in range(ATTEMPTS - 1):
        try:
            return replace(_store(svc, events, node), refused=refused, stale=stale)
        except IntegrityError:  # a concurrent worker stored the resend or opened the incident
            continue
    return replace(_store(svc, events, node), refused=refused, stale=stale)


def fresh_events(svc: Coordinator, node: Node, events: Sequence[AnalyticsEvent]
                 ) -> tuple[list[AnalyticsEvent], int]:
    """The batch's events not stale (``STALE``), and how many were: those are logged and
    counted, never stored nor charged to the node's flood limit."""
    oldest = svc.clock() - timedelta(days=svc.settings.alert_retention_days)
    current = [e for e in events if as_utc(e.time) >= oldest]
    stale = len(events) - len(current)
    if stale:
        log.warning("%s: %d events of a batch of %s dated before %s (past the %d-day "
                    "retention: a replay), not stored", STALE, stale, node.node_id,
                    oldest.isoformat(), svc.settings.alert_retention_days)
        denials.count(svc, STALE_SOURCE, STALE)
    return current, stale


def _admitted(svc: Coordinator, node: Node, events: Sequence[AnalyticsEvent]
              ) -> tuple[list[AnalyticsEvent], int]:
    """The events to store (those seen or admitted before, and the new ones the node's bucket
    allows, the lowest sequence numbers first) and how many were refused and audited now. In a
    transaction of its own: the bucket's lock is held for this alone, not while another batch
    of the node takes its incidents (which would make two batches of one node wait for each
    other), nor while the audit log is written (on SQLite, the same file's one writer)."""
    now = svc.clock()
    with svc.session() as session:
        bucket = lock(session, node.node_id, svc.settings, now)
        seqs = [e.seq for e in events]
        seen = set(session.scalars(select(Alert.seq).where(
            Alert.node_id == node.node_id, Alert.seq.in_(seqs))))
        before = decided(session, node.node_id, seqs)
        fresh = sorted(e.seq for e in events if e.seq not in seen and e.seq not in before)
        granted = take(bucket, len(fresh), svc.settings, now)
        decide(session, node.node_id, fresh[:granted], fresh[granted:], now)
        to_audit = unaudited(session, node.node_id, seqs)
    if to_audit:
        refusal = Refusal(node.node_id, to_audit)
        try:
            record(svc, refusal)
        except BaseException:
            unclaim(svc, refusal)  # audited when the batch comes again
            raise
    admitted = seen | set(fresh[:granted]) | {s for s, d in before.items() if not d.refused}
    return [e for e in events if e.seq in admitted], len(to_audit)


def _store(svc: Coordinator, events: Sequence[AnalyticsEvent], node: Node) -> Intake:
    now = svc.clock()
    with svc.session() as session:
        seen = set(session.scalars(select(Alert.seq).where(
            Alert.node_id == node.node_id, Alert.seq.in_([e.seq for e in events]))))
        new = [Alert(node_id=node.node_id, site_id=node.site_id, seq=e.seq, type=e.type,
                     rule=e.rule, camera=e.camera, zone=e.zone, line=e.line,
                     direction=e.direction, time=e.time, count=e.count, tokens=list(e.tokens),
                     score=e.score, received_at=now,
                     state="logged" if e.type in COUNTED_TYPES else "open")
               for e in events if e.seq not in seen]
        session.add_all(new)
        session.flush()
        incidents = attach(session, [a for a in new if a.state == "open"],
                           timedelta(seconds=svc.settings.incident_window_seconds))
        deliveries, published = plan(svc, session, [a for a in new if a.state == "open"], now)
        # last: the revision counter stays locked from here to the commit
        number(session, [session.get_one(Incident, i) for i in incidents],
               [a for a in new if a.state == "open"])
        return Intake([a.id for a in new], [d.id for d in deliveries], len(events) - len(new),
                      incidents, [m.id for m in published])
