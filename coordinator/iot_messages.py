"""What a device's MQTT message says, checked before anything is believed: the topic names a
registered device and the channel of its kind; the payload is at most ``max_message_bytes``,
JSON of the kind's schema (no other keys), dated at most ``future_seconds`` ahead and at most
``past_seconds`` ago (``Stale``: a press is published at once, a sensor's message may wait out a
reconnect; an older one, stored, would be past its incident's moment, or even past the alert
retention and purged with a public entry: red team 3). A message failing any check is refused
with the reason (the subscriber logs it and carries on; a stale one is only counted).

Payloads (docs/mqtt.md): a button ``{"time": ...}``; a sensor ``{"time": ..., "value": 41.5}``;
a lamp controller ``{"time": ..., "on": false}``; ``time`` is ISO 8601 with a zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from coordinator.iot_devices import CHANNEL, SENSORS, Device, IotSettings


class Refused(Exception):
    """A device message not believed, and why (safe to log: no payload echoed)."""


class Stale(Refused):
    """A device message dated more than ``past_seconds`` ago (counted, not logged one by one)."""


class _Press(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)
    time: AwareDatetime


# A reading outside this (or not finite: ``1e309``, ``Infinity``, ``NaN``) is refused: no
# air-quality or noise sensor reads a million, and an infinite one would cross every threshold
# and reach the feeds as JSON a browser cannot parse.
READING_LIMIT = 1e6


class _Reading(_Press):
    value: float = Field(allow_inf_nan=False, ge=-READING_LIMIT, le=READING_LIMIT)


class _LampState(_Press):
    on: bool


SCHEMA: dict[str, type[_Press]] = {"sos": _Press, "reading": _Reading, "state": _LampState}


@dataclass(frozen=True)
class DeviceMessage:
    device: Device
    channel: str
    time: datetime
    value: float | None = None  # a sensor's reading
    on: bool | None = None  # a lamp's state


def parse(settings: IotSettings, topic: str, payload: bytes, now: datetime) -> DeviceMessage:
    """The checked message, or Refused saying which check failed."""
    prefix = settings.topic_prefix + "/"
    if not topic.startswith(prefix) or topic.count("/") != prefix.count("/") + 1:
        raise Refused(f"topic {topic[:200]!r} is not <prefix>/<device>/<channel>")
    device_id, channel = topic[len(prefix):].split("/")
    device = settings.device(device_id)
    if device is None:
        raise Refused(f"unknown device {device_id[:64]!r}")
    if channel != CHANNEL[device.kind]:
        raise Refused(f"device {device.id} ({device.kind}) does not publish on {channel[:32]!r}")
    if len(payload) > settings.max_message_bytes:
        raise Refused(f"device {device.id}: message of {len(payload)} bytes, more than "
                      f"{settings.max_message_bytes}")
    try:
        body = SCHEMA[channel].model_validate_json(payload)
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, e["loc"])) or "message" for e in exc.errors()[:3])
        raise Refused(f"device {device.id}: not a valid {channel} message ({where})") from None
    if body.time - now > timedelta(seconds=settings.future_seconds):
        raise Refused(f"device {device.id}: dated {body.time.isoformat()}, more than "
                      f"{settings.future_seconds} s ahead")
    if now - body.time > timedelta(seconds=settings.past_seconds):
        raise Stale(f"device {device.id}: dated more than {settings.past_seconds} s ago")
    return DeviceMessage(device, channel, body.time,
                         value=getattr(body, "value", None), on=getattr(body, "on", None))


class Crossings:
    """A sensor raises an incident when its reading crosses its threshold upward, once: not
    again while it stays at or above it, again after it has fallen below."""

    def __init__(self) -> None:
        self._above: dict[str, bool] = {}

    def crossed(self, message: DeviceMessage) -> bool:
        device = message.device
        if device.kind not in SENSORS or message.value is None or device.threshold is None:
            return False
        above = message.value >= device.threshold
        was = self._above.get(device.id, False)
        self._above[device.id] = above
        return above and not was
