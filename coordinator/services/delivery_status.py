"""What the control room says of the actions that leave the coordinator (MQTT messages to the
broker, webhooks to their receivers) when they cannot: "MQTT broker at host:port unreachable,
3 actions waiting since 12:03", cleared once a delivery succeeds again.

The worker that delivers them is another process; what it persists is the delivery rows (their
state, attempts, ``last_error`` and ``touched_at``, the time of the latest attempt). A channel is
in trouble while its latest failed attempt, at an action still waiting (or, for a webhook, given
up), began after its latest attempt that succeeded: once one delivery succeeds the message
clears, and the actions still waiting go out with the worker's next retries. "Since" is when
the oldest action still waiting was planned (its alert received), in the city's time zone.

The worker also reports its own connection to the broker (``coordinator.mqtt_status``, table
``mqtt_connections``, with a heartbeat): a broker unreachable or refusing the worker is said from
that even while no action waits, with "SOS buttons and sensors are not heard" when no live
worker that listens to the city's devices is connected; a report older than three
``mqtt.report_seconds`` is not believed ("no coordinator worker has reported ..."). No report at
all: the deliveries alone say it, as before (docs/mqtt.md, "The worker's own connection").

The message is written here from what kind of failure it was, never copied from the error: no
password, no token, no webhook path or query (a receiver is named by its host and port)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import httpx
from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from coordinator.db import Alert, Delivery, MqttConnection, MqttDelivery, Webhook
from coordinator.service import Coordinator, as_utc
from coordinator.web.city_time import local

log = logging.getLogger(__name__)
Kind = Literal["unreachable", "credentials", "password_file", "no_acknowledgement", "failing",
               "refused", "connecting", "no_worker"]
# what a delivery's error says of the connection itself: the worker's own report of its
# connection (``MqttConnection``), when there is one, says it better
CONNECTION_KINDS = ("unreachable", "credentials", "password_file", "refused")


class Trouble(BaseModel):
    """One channel whose actions are not getting through."""

    channel: Literal["mqtt", "webhook"]
    target: str  # host:port, nothing more
    kind: Kind
    message: str  # what the operator reads, times in the city's time zone
    waiting: int  # actions planned and not yet delivered
    given_up: int  # webhook deliveries given up during this trouble (MQTT never gives up)
    since: datetime  # when the oldest action still waiting was planned, or the trouble began
    last_failure: datetime  # the latest failed attempt, or the worker's latest report
    # MQTT only: whether the city's devices (SOS buttons, sensors) are heard now; None where
    # it is not known (no worker reports its connection, or none listens to devices)
    devices_heard: bool | None = None


@dataclass(frozen=True)
class Attempt:
    touched_at: datetime  # when it claimed its delivery
    last_error: str | None


class DeliveryStatus(BaseModel):
    ok: bool
    message: str
    time_zone: str
    problems: list[Trouble]


def _mqtt_kind(error: str) -> Kind:
    lowered = error.lower()
    if "password_file" in lowered:
        return "password_file"
    if "credentials" in lowered or "not authori" in lowered:
        return "credentials"
    if "puback" in lowered:
        return "no_acknowledgement"
    if "connect" in lowered or "connection" in lowered:
        return "unreachable"
    return "failing"


def _mqtt_text(kind: Kind, where: str, tail: str) -> str:
    broker = f"MQTT broker at {where}"
    return {
        "unreachable": f"{broker} unreachable: {tail}.",
        "credentials": f"{broker} refused our credentials: check mqtt.username and the "
                       f"password (mqtt.password_file or SAFECITY_COORDINATOR_MQTT__PASSWORD); "
                       f"{tail}.",
        "password_file": f"The password file for the {broker} cannot be read: check "
                         f"mqtt.password_file and its permissions; {tail}.",
        "no_acknowledgement": f"{broker} does not acknowledge our messages: {tail}.",
        "failing": f"{broker}: publishing fails; {tail}.",
    }[kind]


def _clock(since: datetime, now: datetime, zone: str) -> str:
    moment = local(since, zone)  # the date too when it is not today's
    return moment.strftime("%H:%M" if moment.date() == local(now, zone).date()
                           else "%Y-%m-%d %H:%M")


def _tail(waiting: int, given_up: int, since: datetime, now: datetime, zone: str) -> str:
    clock = _clock(since, now, zone)
    text = f"{waiting} {'action' if waiting == 1 else 'actions'} waiting since {clock}"
    if given_up:
        text += f", {given_up} given up"
    return text


def _latest(session: Session, table: type[Delivery] | type[MqttDelivery],
            *where: ColumnElement[bool]) -> Attempt | None:
    """The latest attempt (``touched_at``: when it claimed the row) among ``where``: read
    backwards along ``touched_at``'s index, so a table of months of deliveries is not scanned
    (``delivered_at`` has no index)."""
    found = session.execute(select(table.touched_at, table.last_error)
                            .where(table.touched_at.is_not(None), *where)
                            .order_by(table.touched_at.desc()).limit(1)).first()
    if found is None or found.touched_at is None:
        return None
    return Attempt(as_utc(found.touched_at), found.last_error)


def _mqtt(session: Session, svc: Coordinator) -> Trouble | None:
    succeeded = _latest(session, MqttDelivery, MqttDelivery.state == "delivered")
    latest = _latest(session, MqttDelivery, MqttDelivery.state == "pending",
                     MqttDelivery.last_error.is_not(None))
    if latest is None or latest.last_error is None or (
            succeeded is not None and succeeded.touched_at >= latest.touched_at):
        return None
    since = session.scalar(select(func.min(Alert.received_at)).join(
        MqttDelivery, MqttDelivery.alert_id == Alert.id).where(MqttDelivery.state == "pending"))
    waiting = session.scalar(select(func.count()).select_from(MqttDelivery)
                             .where(MqttDelivery.state == "pending")) or 0
    mqtt = svc.settings.mqtt
    where = f"{mqtt.host}:{mqtt.port}" if mqtt is not None else "(no longer configured)"
    kind = _mqtt_kind(latest.last_error)
    started = as_utc(since) if since is not None else latest.touched_at
    tail = _tail(waiting, 0, started, svc.clock(), svc.settings.time_zone)
    return Trouble(channel="mqtt", target=where, kind=kind, waiting=waiting, given_up=0,
                   since=started, last_failure=latest.touched_at,
                   message=_mqtt_text(kind, where, tail))


def _connection_head(kind: str, where: str, clock: str) -> tuple[str, list[str]]:
    """What a worker's report of its connection says, and what to check."""
    broker = f"MQTT broker at {where}"
    return {
        "unreachable": (f"{broker} unreachable since {clock}", []),
        "refused": (f"{broker} refuses the connection since {clock}", []),
        "credentials": (f"{broker} refused our credentials since {clock}",
                        ["check mqtt.username and the password (mqtt.password_file or "
                         "SAFECITY_COORDINATOR_MQTT__PASSWORD)"]),
        "password_file": (f"The password file for the {broker} cannot be read since {clock}",
                          ["check mqtt.password_file and its permissions"]),
        "connecting": (f"{broker}: not connected yet, trying since {clock}", []),
    }[kind]


def _connections(session: Session, svc: Coordinator,
                 deliveries: Trouble | None) -> tuple[list[Trouble], Trouble | None]:
    """What the workers report of their connections to the broker (``MqttConnection``), and
    the delivery-derived trouble that is still to be said: one the reports say better (the
    connection is down, or up again since that failed attempt) is folded in or dropped. No
    report at all (no worker with MQTT has run since this was added): the deliveries alone."""
    mqtt = svc.settings.mqtt
    rows = list(session.scalars(select(MqttConnection).order_by(MqttConnection.since)))
    if mqtt is None or not rows:
        return [], deliveries
    now, zone = svc.clock(), svc.settings.time_zone
    stale = 3 * mqtt.report_seconds
    live = [r for r in rows if as_utc(r.reported_at) >= now - timedelta(seconds=stale)]
    waiting = deliveries.waiting if deliveries is not None else 0
    folded = deliveries is not None and deliveries.kind in CONNECTION_KINDS
    rest = None if folded else deliveries

    def said(head: str, advice: list[str], heard: bool | None) -> str:
        also = list(advice)
        if heard is False:
            also.append("SOS buttons and sensors are not heard")
        if folded and deliveries is not None:
            also.append(_tail(waiting, 0, deliveries.since, now, zone))
        return head + (": " + "; ".join(also) if also else "") + "."

    where = f"{mqtt.host}:{mqtt.port}"
    if not live:
        last = max(as_utc(r.reported_at) for r in rows)
        head = (f"No coordinator worker has reported its connection to the MQTT broker at "
                f"{where} for over {stale:g} s (last at {_clock(last, now, zone)})")
        message = said(head, ["SOS buttons and sensors may not be heard and alerts' actions "
                              "may wait"], None)
        return [Trouble(channel="mqtt", target=where, kind="no_worker", message=message,
                        waiting=waiting, given_up=0, since=last, last_failure=last,
                        devices_heard=None)], rest
    listening = [r for r in live if r.listening]
    heard = any(r.state == "connected" for r in listening) if listening else None
    found: list[Trouble] = []
    for kind in ("credentials", "password_file", "refused", "unreachable", "connecting"):
        down = [r for r in live if r.state == kind]
        if kind == "connecting":  # a worker starting: said only when it takes long
            down = [r for r in down if as_utc(r.since) < now - timedelta(seconds=stale)]
        if not down:
            continue
        began = min(as_utc(r.since) for r in down)
        head, advice = _connection_head(kind, where, _clock(began, now, zone))
        if len(down) < len(live):
            head += f" (for {len(down)} of {len(live)} workers)"
        found.append(Trouble(channel="mqtt", target=where, kind=kind, waiting=waiting,
                             given_up=0, since=began,
                             last_failure=max(as_utc(r.reported_at) for r in down),
                             devices_heard=heard, message=said(head, advice, heard)))
        folded = False  # the actions waiting are said once
    if found:
        return found, rest
    # every worker connected: an attempt that failed before the connection (re)opened is not
    # a trouble now (the worker's retries send it); one that failed since still is
    up = min((as_utc(r.since) for r in live if r.state == "connected"), default=None)
    if deliveries is not None and deliveries.kind in CONNECTION_KINDS and up is not None \
            and deliveries.last_failure <= up:
        return [], None
    return [], deliveries


def _where(url: str) -> str:
    """A receiver's host and port: never its path or query (a token may be there)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):  # checked when it was added: not expected
        return "(a receiver whose URL cannot be read)"
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


def _webhook(session: Session, svc: Coordinator, hook: Webhook) -> Trouble | None:
    mine = Delivery.webhook_id == hook.webhook_id
    succeeded = _latest(session, Delivery, mine, Delivery.state == "delivered")
    latest = _latest(session, Delivery, mine, Delivery.state.in_(("pending", "failed")),
                     Delivery.last_error.is_not(None))
    if latest is None or latest.last_error is None or (
            succeeded is not None and succeeded.touched_at >= latest.touched_at):
        return None
    # given up during this trouble: tried after the latest attempt that succeeded
    after: ColumnElement[bool] = true() if succeeded is None \
        else Delivery.touched_at > succeeded.touched_at
    waiting = session.scalar(select(func.count()).select_from(Delivery)
                             .where(mine, Delivery.state == "pending")) or 0
    given_up = session.scalar(select(func.count()).select_from(Delivery)
                              .where(mine, Delivery.state == "failed", after)) or 0
    since = session.scalar(select(func.min(Alert.received_at)).join(
        Delivery, Delivery.alert_id == Alert.id).where(
        mine, Delivery.last_error.is_not(None),
        (Delivery.state == "pending") | ((Delivery.state == "failed") & after)))
    where = _where(hook.url)
    started = as_utc(since) if since is not None else latest.touched_at
    # "HTTP 503" or "delivery failed" (connection errors stay in the debug log: outbound)
    said = latest.last_error if latest.last_error.startswith("HTTP ") else "no answer"
    tail = _tail(waiting, given_up, started, svc.clock(), svc.settings.time_zone)
    return Trouble(channel="webhook", target=where, kind="failing", waiting=waiting,
                   given_up=given_up, since=started, last_failure=latest.touched_at,
                   message=f"Webhook to {where} failing ({said}): {tail}.")


def shown(svc: Coordinator) -> DeliveryStatus:
    """For a page: the status, or a line saying it could not be read (the page itself, its
    incidents and cameras, is served regardless; the reason goes to the log)."""
    try:
        return status(svc)
    except Exception:
        log.exception("the delivery status could not be read")
        return DeliveryStatus(ok=False, time_zone=svc.settings.time_zone, problems=[],
                              message="Whether alerts' actions are delivered cannot be read now.")


def status(svc: Coordinator) -> DeliveryStatus:
    """Each channel whose actions are not getting through now, with what the operator reads."""
    with svc.session() as session:
        connection, deliveries = _connections(session, svc, _mqtt(session, svc))
        found = connection + [t for t in [deliveries] if t is not None]
        hooks = session.scalars(select(Webhook).where(Webhook.active.is_(True))
                                .order_by(Webhook.created_at))
        found += [t for t in (_webhook(session, svc, hook) for hook in hooks) if t is not None]
    message = " ".join(t.message for t in found) if found \
        else "Actions are being delivered (MQTT and webhooks)."
    return DeliveryStatus(ok=not found, message=message, time_zone=svc.settings.time_zone,
                          problems=found)
