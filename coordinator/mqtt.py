"""Alerts published to an MQTT broker, the way home and city automation (Frigate, Home
Assistant, signage and lamp controllers) listen for events. Topics, payloads and guarantees are
in docs/mqtt.md:

- ``<prefix>/sites/<site>/cameras/<camera>/events/<type>``: each alert, once it is stored;
- ``<prefix>/sites/<site>/cameras/<camera>/occupancy/<zone>``: an occupancy alert's count,
  retained, so a device that connects later reads the latest;
- ``<prefix>/availability``: ``online`` while the coordinator's worker is connected, ``offline``
  (its last will) when it is not.

Each alert has a delivery row planned at intake (``MqttDelivery``); it is marked delivered only
when the broker has acknowledged every message of it (QoS 1 PUBACK), and retried with back-off
while the broker is away, so an outage delays alerts and loses none. A message the client has
handed to the broker is kept and resent by the client itself when the connection returns, and
a retry waits for that message instead of publishing it again: within one worker process an
alert is published once per connection attempt that reaches the broker, duplicates only where
QoS 1 allows them (a PUBACK lost with the connection, or a worker stopped between the PUBACK
and the commit).

What leaves is the alert's public fields only: no track tokens, no staff names."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session

from coordinator.action_rules import SignageAction
from coordinator.alert_intake import LAMP_TARGET, SIGNAGE_TARGET, alert_view
from coordinator.config import MqttSettings
from coordinator.db import Alert, Incident, MqttDelivery
from coordinator.delivery_claims import LEASE, claim, settle
from coordinator.errors import DeliveryFailed
from coordinator.finite_json import finite_dumps
from coordinator.iot_devices import COMMAND, Device, IotSettings
from coordinator.iot_messages import Crossings, Refused, Stale, parse
from coordinator.service import Coordinator
from coordinator.severity import severity
from coordinator.signage import render
from kernel.errors import ConfigError

log = logging.getLogger(__name__)
# What an MQTT message says of an alert: what a device needs to act, nothing that would link
# sightings (tokens) or name the staff handling it.
PUBLIC_FIELDS = ("id", "site_id", "type", "rule", "camera", "zone", "line", "direction", "time",
                 "count", "score", "incident_id")
ONLINE, OFFLINE = b"online", b"offline"
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


def level(name: str | None) -> str:
    """One topic level from a name: ``/``, ``+`` and ``#`` would split or wildcard it (the
    contract's names do not carry them; this keeps a topic one level per name regardless)."""
    if not name:
        return "_"
    return "".join("_" if c in "/+#\0" else c for c in name)


def availability_topic(prefix: str) -> str:
    return f"{prefix}/availability"


def messages(prefix: str, alert: Alert, incident: Incident | None) -> list[Message]:
    """What one alert publishes: its event, and for occupancy the zone's retained count."""
    view = alert_view(alert)
    public = {name: view[name] for name in PUBLIC_FIELDS}
    public["severity"] = incident.severity if incident is not None else severity(alert.type)
    camera = f"{prefix}/sites/{level(alert.site_id)}/cameras/{level(alert.camera)}"
    found = [Message(f"{camera}/events/{level(alert.type)}", finite_dumps(public).encode(), False)]
    if alert.type == "occupancy":
        state = {"count": alert.count, "time": public["time"], "alert_id": alert.id,
                 "incident_id": alert.incident_id}
        found.append(Message(f"{camera}/occupancy/{level(alert.zone)}",
                             finite_dumps(state).encode(), True))
    return found


def sign_message(sign: SignageAction, alert: Alert, incident: Incident | None) -> Message:
    """A sign's message for one alert: its rendered text, retained (a sign that reconnects
    shows the latest), with the alert's and incident's ids for the city's logs."""
    view = alert_view(alert)
    values = {name: view[name] for name in PUBLIC_FIELDS}
    values.update(site=alert.site_id, alert_id=alert.id,
                  severity=incident.severity if incident is not None else severity(alert.type))
    text = render(sign.template, values)
    payload = {"sign": sign.name, "text": text, "time": view["time"], "alert_id": alert.id,
               "incident_id": alert.incident_id}
    return Message(sign.topic, finite_dumps(payload).encode(), True)


def lamp_command(iot: IotSettings, lamp: Device, alert: Alert) -> Message:
    """The command that turns a lamp controller's lamps on, for a crowd at a linked camera."""
    payload = {"on": True, "reason": "crowd", "camera": f"{alert.site_id}/{alert.camera}",
               "count": alert.count, "alert_id": alert.id}
    return Message(iot.topic(lamp, COMMAND), finite_dumps(payload).encode(), False)


def _reason(code: ReasonCode | int) -> str:
    text = str(code)
    if _refused_state(code) == "credentials":
        return f"the broker refused the coordinator's credentials ({text})"
    return f"the broker refused the connection ({text})"


def _refused_state(code: ReasonCode | int) -> str:
    """The connection's state (``Publisher.state``) after the broker refused it."""
    text = str(code).lower()
    return "credentials" if "authori" in text or "password" in text else "refused"


class Publisher:
    """One connection to the broker per worker process, kept open by paho's network thread
    (which reconnects with back-off). An outage, and its end, is logged once, and counted for
    /metrics (``connected``, ``outages``, ``problem``); the password is never logged."""

    def __init__(self, settings: MqttSettings, iot: IotSettings | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_device: Callable[[str, bytes], None] | None = None) -> None:
        self.settings, self.iot, self.clock = settings, iot, clock
        # SOS presses and threshold crossings, checked, go here (``coordinator worker``'s own
        # connection queues them for the intake); None: this connection does not listen
        self.on_device = on_device
        self.crossings = Crossings()
        # the lamp controllers' latest retained state (``on``), for the crowd rule; a lamp not
        # heard from yet is absent (and commanded on: light is the safe side)
        self.lamps: dict[str, bool] = {}
        self.refused = 0  # device messages refused
        self.stale = 0  # of them, dated more than past_seconds ago
        self.where = f"{settings.host}:{settings.port}"
        self.availability = availability_topic(settings.topic_prefix)
        self.connected = threading.Event()
        self.problem: str | None = None  # why the broker is not reachable now
        self.outages = 0
        # the connection's state, for the control room (``coordinator.mqtt_status``): connecting
        # | connected | unreachable | refused | credentials | password_file, since when, and
        # ``changes`` set at each change; ``listening``: it hears the city's devices
        self.listening = iot is not None and on_device is not None
        self.state, self.since = "connecting", datetime.now(UTC)
        self.changes = threading.Event()
        self._lock = threading.Lock()
        self._sent: dict[tuple[int, str], paho.MQTTMessageInfo] = {}
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             protocol=paho.MQTTv311, clean_session=True)
        if settings.tls:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(self.availability, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        self.client = client
        self._credentials()
        client.connect_async(settings.host, settings.port, keepalive=30)
        client.loop_start()

    def close(self) -> None:
        """Say ``offline`` (a clean disconnect sends no last will) and stop."""
        if self.connected.is_set():
            self.client.publish(self.availability, OFFLINE, qos=1, retain=True) \
                .wait_for_publish(self.settings.publish_timeout_seconds)
        self.client.disconnect()
        self.client.loop_stop()

    def send(self, key: int, found: Sequence[Message]) -> None:
        """Publish ``found`` (delivery ``key``) and wait for every PUBACK; DeliveryFailed
        (retry later) when the broker does not acknowledge them in time. A message handed to
        the client before is waited for, not published again: the client resends it itself."""
        deadline = self.clock() + self.settings.publish_timeout_seconds
        infos = []
        with self._lock:
            for message in found:
                info = self._sent.get((key, message.topic))
                if info is None:
                    info = self.client.publish(message.topic, message.payload,
                                               qos=self.settings.qos, retain=message.retain)
                    if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
                        raise DeliveryFailed("the MQTT client's queue is full")
                    if info.rc == paho.MQTT_ERR_NO_CONN:
                        # queued: the client sends it when the connection returns and marks
                        # it published at its PUBACK; paho would otherwise keep answering
                        # "not connected" for it, and a retry would publish it twice
                        info.rc = paho.MQTT_ERR_SUCCESS
                    self._sent[(key, message.topic)] = info
                infos.append(info)
        while not all(info.is_published() for info in infos):
            # while the broker is away, fail at once: the worker has other work than waiting
            # (the messages are queued in the client and go out when it returns)
            if not self.connected.is_set() or self.clock() >= deadline:
                raise DeliveryFailed(self.problem or (
                    f"no PUBACK from the broker at {self.where} within "
                    f"{self.settings.publish_timeout_seconds:g} s" if self.connected.is_set()
                    else f"not connected to the broker at {self.where} yet"))
            time.sleep(POLL_SECONDS)
        with self._lock:
            for message in found:
                self._sent.pop((key, message.topic), None)

    def state_now(self) -> tuple[str, datetime]:
        """The connection's state and since when (``coordinator.mqtt_status`` reports it)."""
        with self._lock:
            return self.state, self.since

    def _state(self, state: str) -> None:
        """Say the connection is in ``state`` now (held by the lock)."""
        if state != self.state:
            self.state, self.since = state, datetime.now(UTC)
            self.changes.set()

    def _failed(self, reason: str, state: str = "unreachable") -> None:
        self.connected.clear()
        try:
            self._credentials()  # the next attempt with the file as it is now
        except ConfigError as exc:  # in paho's thread: an exception would end its loop
            reason, state = f"{reason}; {exc}", "password_file"
        with self._lock:
            was, self.problem = self.problem, reason
            if was is None:
                self.outages += 1
            self._state(state)
        if was is None:  # an outage is said once, when it starts, however often it is retried
            log.warning("MQTT broker %s unavailable: %s; alerts wait and are published when "
                        "it returns", self.where, reason)
        elif was != reason:  # the same outage, for another reason now (what /metrics shows)
            log.info("MQTT broker %s still unavailable, now: %s", self.where, reason)

    def _credentials(self) -> None:
        """Give the client the user and password (read again from ``password_file``)."""
        if self.settings.username is not None:
            self.client.username_pw_set(self.settings.username, self.settings.secret())

    def _on_connect(self, client: paho.Client, _userdata: Any, _flags: Any,
                    code: ReasonCode, _properties: Any) -> None:
        if code.is_failure:
            self._failed(_reason(code), _refused_state(code))
            return
        client.publish(self.availability, ONLINE, qos=1, retain=True)
        if self.iot is not None:
            # the broker sends each lamp's retained state at once, then every change
            channels = ["state"] + (["sos", "reading"] if self.on_device is not None else [])
            client.subscribe([(f"{self.iot.topic_prefix}/+/{c}", 1) for c in channels])
        self.connected.set()
        with self._lock:
            was, self.problem = self.problem, None
            self._state("connected")
        if was is not None:
            log.warning("MQTT broker %s reachable again (was: %s)", self.where, was)

    def _on_message(self, _client: paho.Client, _userdata: Any,
                    message: paho.MQTTMessage) -> None:
        """A device's message, checked (``coordinator.iot_messages``): a lamp's state is kept,
        an SOS press or a sensor's upward threshold crossing handed to ``on_device``. A message
        that fails a check is logged with the reason and dropped; nothing is raised in paho's
        thread (it would end the loop, and with it the connection)."""
        assert self.iot is not None  # subscribed only with devices configured
        payload = bytes(message.payload)
        try:
            said = parse(self.iot, message.topic, payload, datetime.now(UTC))
        except Stale:  # counted, not logged one by one
            self.refused += 1
            self.stale += 1
            return
        except Refused as exc:
            self.refused += 1
            log.warning("device message refused: %s", exc)
            return
        if said.on is not None:
            self.lamps[said.device.id] = said.on
        elif self.on_device is not None and (said.channel == "sos"
                                             or self.crossings.crossed(said)):
            try:
                self.on_device(message.topic, payload)
            except Exception:  # the queue away: logged; the device's next message may pass
                log.exception("device message from %s not queued", said.device.id)

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any,
                       _code: ReasonCode, _properties: Any) -> None:
        if self.connected.is_set():
            self._failed("the connection to the broker was lost")

    def _on_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        self._failed(f"cannot connect to the broker at {self.where} (refused, unreachable, or "
                     "its TLS certificate not trusted)")


def deliver(svc: Coordinator, publisher: Publisher | None, delivery_id: int) -> None:
    """Publish one alert (its event, or one sign's message); raise DeliveryFailed (the caller
    retries) until the broker has acknowledged it. A delivery already done, or whose alert was
    purged, is left alone; one that another attempt holds raises DeliveryBusy
    (``coordinator.delivery_claims``)."""
    lease = LEASE + timedelta(seconds=publisher.settings.publish_timeout_seconds
                              if publisher is not None else 0)
    with svc.session() as session:
        claimed = claim(session, MqttDelivery, delivery_id, svc.clock(), lease)
        if claimed is None:
            return
        delivery = session.get_one(MqttDelivery, delivery_id)
        found, why = _planned(svc, session, publisher, delivery)
        if found is None:
            delivery.state, delivery.leased_until = why, None
            return
    assert publisher is not None  # else nothing is planned
    try:
        publisher.send(delivery_id, found)
        error = None
    except DeliveryFailed as exc:
        error = str(exc)
    with svc.session() as session:
        settle(session, MqttDelivery, claimed, svc.clock(), error)
    if error is not None:
        raise DeliveryFailed(f"MQTT delivery {delivery_id}: {error}")


def _planned(svc: Coordinator, session: Session, publisher: Publisher | None,
             delivery: MqttDelivery) -> tuple[list[Message] | None, str]:
    """What a delivery publishes now; else None and its final state (the reason in its
    ``last_error``, set here)."""
    if publisher is None:
        delivery.last_error = "MQTT is no longer configured"
        return None, "failed"
    alert = session.get_one(Alert, delivery.alert_id)
    incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
    if delivery.target.startswith(SIGNAGE_TARGET):
        name = delivery.target.removeprefix(SIGNAGE_TARGET)
        sign = next((s for s in svc.settings.signage if s.name == name), None)
        if sign is None:
            delivery.last_error = f"the sign {name} is no longer configured"
            return None, "failed"
        return [sign_message(sign, alert, incident)], ""
    if delivery.target.startswith(LAMP_TARGET):
        iot, name = publisher.iot, delivery.target.removeprefix(LAMP_TARGET)
        lamp = iot.device(name) if iot is not None else None
        if iot is None or lamp is None:
            delivery.last_error = f"the lamp controller {name} is no longer configured"
            return None, "failed"
        if publisher.lamps.get(lamp.id):
            delivery.last_error = "its lamps were on"
            return None, "not_needed"
        return [lamp_command(iot, lamp, alert)], ""
    return messages(publisher.settings.topic_prefix, alert, incident), ""
