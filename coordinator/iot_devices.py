"""The city's own IoT devices the coordinator knows (SOS buttons, street-lamp controllers,
air-quality and noise sensors): the registry in the settings' ``[iot]`` table, each device with
its kind and position, and the topics it speaks on (docs/mqtt.md, "Inbound IoT").

A device publishes only under ``<prefix>/<device id>/``: a button ``sos``, a sensor
``reading``, a lamp controller its ``state`` (retained); the coordinator publishes a lamp's
``command``. The broker's ACL gives each device's own user write access to its own topics and
read access to its ``command`` only, so the device id in a topic is the device that sent it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["sos_button", "lamp_controller", "air_quality", "noise"]
SENSORS: frozenset[str] = frozenset({"air_quality", "noise"})
# what a device of each kind publishes on, below its own id
CHANNEL: dict[str, str] = {"sos_button": "sos", "lamp_controller": "state",
                           "air_quality": "reading", "noise": "reading"}
# the unit a sensor's readings are shown in, unless its registry entry names another
UNIT: dict[str, str] = {"air_quality": "µg/m³", "noise": "dB(A)"}
# the alert type an SOS press or a sensor's crossing is stored as (its severity:
# ``coordinator.severity``)
ALERT_TYPE: dict[str, str] = {"sos_button": "sos", "air_quality": "air_quality",
                              "noise": "noise"}
COMMAND = "command"
DEVICE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
CAMERA = r"^[^/\s]{1,64}/[^/\s]{1,64}$"


class Device(BaseModel):
    """One device: what it is, where it stands, and what it is linked to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=DEVICE_ID, description="its id, as in its topics and broker user")
    kind: Kind = Field(description="sos_button, lamp_controller, air_quality or noise")
    site: str = Field(min_length=1, max_length=64, description="the site it belongs to")
    latitude: float = Field(ge=-90, le=90, description="its position (WGS 84)")
    longitude: float = Field(ge=-180, le=180, description="its position (WGS 84)")
    threshold: float | None = Field(default=None, description="sensors: the reading at or "
                                    "above which it raises an incident (once per crossing)")
    unit: str | None = Field(default=None, min_length=1, max_length=16,
                             description="sensors: the unit of its readings, kept and shown "
                             "with each reading (default: µg/m³ for air_quality, dB(A) for "
                             "noise)")
    cameras: list[str] = Field(default=[], max_length=64,
                               description="lamp controllers: the cameras that see the street "
                               "it lights, as \"site/camera\"")
    crowd_count: int = Field(default=10, ge=1, le=100_000,
                             description="lamp controllers: an occupancy alert of at least "
                             "this count at a linked camera is a crowd; with the lamps off "
                             "the coordinator commands them on")

    @model_validator(mode="after")
    def _fits_kind(self) -> Device:
        if (self.kind in SENSORS) != (self.threshold is not None):
            raise ValueError(f"device {self.id}: a threshold is set for sensors "
                             "(air_quality, noise) and only for them")
        if self.unit is not None and self.kind not in SENSORS:
            raise ValueError(f"device {self.id}: only sensors have a unit")
        if self.cameras and self.kind != "lamp_controller":
            raise ValueError(f"device {self.id}: only a lamp controller links cameras")
        bad = [c for c in self.cameras if not re.match(CAMERA, c)]
        if bad:
            raise ValueError(f"device {self.id}: camera {bad[0]!r} is not \"site/camera\"")
        return self

    def reading_unit(self) -> str | None:
        """The unit of a sensor's readings (None for other kinds)."""
        return self.unit or UNIT.get(self.kind)


class IotSettings(BaseModel):
    """Inbound IoT: the devices the coordinator listens to on the ``[mqtt]`` broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic_prefix: str = Field(default="city/devices",
                              pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
                              description="devices publish below <prefix>/<device id>/")
    max_message_bytes: int = Field(default=1024, ge=64, le=65536,
                                   description="a larger message is refused unread")
    future_seconds: int = Field(default=120, ge=0, le=3600,
                                description="a message dated further ahead of the "
                                "coordinator's clock is refused")
    past_seconds: int = Field(default=300, ge=10, le=3600,
                              description="a message dated longer ago is refused as stale (a "
                              "press is sent at once; a sensor's may wait out a reconnect)")
    devices: list[Device] = Field(default=[], max_length=10_000,
                                  description="the device registry")

    @model_validator(mode="after")
    def _unique(self) -> IotSettings:
        ids = [d.id for d in self.devices]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"devices: the id {twice[0]!r} is used twice")
        return self

    def device(self, device_id: str) -> Device | None:
        return next((d for d in self.devices if d.id == device_id), None)

    def lamps_at(self, site: str, camera: str) -> list[Device]:
        """The lamp controllers linked to a camera."""
        return [d for d in self.devices
                if d.kind == "lamp_controller" and f"{site}/{camera}" in d.cameras]

    def topic(self, device: Device, channel: str) -> str:
        return f"{self.topic_prefix}/{device.id}/{channel}"
