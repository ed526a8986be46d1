"""An SOS press or a sensor's threshold crossing from one of the city's devices, stored as an
alert at the device's position and put in its incident through the same path as a node's
events (``coordinator.incident_grouping``; severity from the device kind's alert type,
``coordinator.severity``), with its actions planned in the same transaction
(``coordinator.alert_intake.plan``).

The message was checked by the listener (``coordinator.iot_messages``) and is checked again
here from its topic and payload, so a task on the queue is believed no more than the broker.
A sensor's alert keeps the reading that crossed, with its unit and the threshold (its time
is the alert's), so the incident shows what the device measured; an SOS press's alert is the
press, at the time the button sent.
A repeat (QoS 1 may deliver a message twice) is found by the device and the message's time in
milliseconds and stored once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from coordinator.alert_intake import ATTEMPTS, Intake, plan
from coordinator.db import Alert, Incident
from coordinator.incident_grouping import attach
from coordinator.incident_revisions import number
from coordinator.iot_devices import ALERT_TYPE
from coordinator.iot_messages import DeviceMessage, Refused, parse
from coordinator.service import Coordinator


def take_device(svc: Coordinator, topic: str, payload: bytes,
                heard: datetime | None = None) -> Intake:
    """Store one device message that raises an incident; Refused if it does not check out.
    ``heard``: when the worker's listener received it (its age is judged from then, so a press
    that waited in the queue behind the worker's own lag is still taken); default now."""
    if svc.settings.iot is None:
        raise Refused("no [iot] devices are configured")
    message = parse(svc.settings.iot, topic, payload, heard or svc.clock())
    if message.device.kind not in ALERT_TYPE:
        raise Refused(f"device {message.device.id}: a {message.device.kind} raises no incident")
    for _ in range(ATTEMPTS - 1):
        try:
            return _store(svc, message)
        except IntegrityError:  # a concurrent worker stored the repeat or opened the incident
            continue
    return _store(svc, message)


def _store(svc: Coordinator, message: DeviceMessage) -> Intake:
    device, now = message.device, svc.clock()
    seq = int(message.time.timestamp() * 1000)
    with svc.session() as session:
        if session.scalar(select(Alert.id).where(Alert.device_id == device.id,
                                                 Alert.seq == seq)) is not None:
            return Intake([], [], 1, [])
        alert = Alert(node_id=None, device_id=device.id, site_id=device.site, seq=seq,
                      type=ALERT_TYPE[device.kind], rule=device.id, camera=device.id,
                      zone=None, line=None, direction=None, time=message.time, count=1,
                      tokens=[], score=None, received_at=now, state="open",
                      latitude=device.latitude, longitude=device.longitude,
                      reading=message.value, unit=device.reading_unit(),
                      threshold=device.threshold)
        session.add(alert)
        session.flush()
        incidents = attach(session, [alert],
                           timedelta(seconds=svc.settings.incident_window_seconds))
        deliveries, published = plan(svc, session, [alert], now)
        number(session, [session.get_one(Incident, i) for i in incidents], [alert])
        return Intake([alert.id], [d.id for d in deliveries], 0, incidents,
                      [m.id for m in published])
