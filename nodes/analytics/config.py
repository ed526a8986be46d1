"""Per-camera analytics configuration: zones, lines and rules, checked when the node config is
loaded (a rule naming a zone that does not exist is an error naming the field)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nodes.analytics.audio import AudioThresholds
from nodes.analytics.geometry import area, self_intersecting

_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Coordinate = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Coordinate, Coordinate]
Kinds = tuple[Literal["person", "vehicle", "object"], ...]


class Zone(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID, description="the zone's name in rules and events")
    polygon: tuple[Point, ...] = Field(min_length=3, max_length=64,
                                       description="corners in relative coordinates (0..1)")

    @field_validator("polygon")
    @classmethod
    def _simple(cls, polygon: tuple[Point, ...]) -> tuple[Point, ...]:
        points = list(polygon)
        if area(points) < 1e-6:
            raise ValueError("the polygon encloses no area")
        if self_intersecting(points):
            raise ValueError("the polygon's edges cross each other")
        return polygon


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID, description="the line's name in rules and events")
    a: Point = Field(description="one end, relative coordinates (0..1)")
    b: Point = Field(description="the other end")
    forward: str = Field(default="in", pattern=_ID,
                         description="name for crossing from a->b's left to its right")
    backward: str = Field(default="out", pattern=_ID,
                          description="name for crossing the other way")

    @model_validator(mode="after")
    def _length(self) -> Line:
        if (self.a[0] - self.b[0]) ** 2 + (self.a[1] - self.b[1]) ** 2 < 1e-6:
            raise ValueError("a line needs two distinct end points")
        return self


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID, description="the rule's name in events")
    kinds: Kinds = Field(default=("person",), description="what the rule watches")
    inertia_frames: int = Field(default=3, ge=1, le=100,
                                description="frames a condition must hold before it counts")


class RestrictedArea(_Rule):
    type: Literal["restricted_area"] = Field(description="the kind of rule")
    zone: str = Field(description="the zone it applies to")


class Loitering(_Rule):
    type: Literal["loitering"] = Field(description="the kind of rule")
    zone: str = Field(description="the zone it applies to")
    seconds: float = Field(gt=0, le=86400, description="how long before it raises an event")


class LineCrossing(_Rule):
    type: Literal["line_crossing"] = Field(description="the kind of rule")
    line: str = Field(description="the line whose crossings it counts")


class Occupancy(_Rule):
    type: Literal["occupancy"] = Field(description="the kind of rule")
    zone: str = Field(description="the zone it applies to")
    max_count: int = Field(ge=0, le=100_000, description="more at once raises an event")


class Running(_Rule):
    type: Literal["running"] = Field(description="the kind of rule")
    zone: str | None = Field(default=None, description="the zone it applies to (none: anywhere)")
    speed: float = Field(default=0.35, gt=0, description="frame widths per second")


class WrongWay(_Rule):
    type: Literal["wrong_way"] = Field(description="the kind of rule")
    zone: str = Field(description="the zone it applies to")
    direction: tuple[float, float] = Field(description="the allowed direction of travel")
    min_speed: float = Field(default=0.03, gt=0, description="frame widths per second")


class StoppedVehicle(_Rule):
    type: Literal["stopped_vehicle"] = Field(description="the kind of rule")
    kinds: Kinds = Field(default=("vehicle",), description="what the rule watches")
    zone: str = Field(description="the zone it applies to")
    seconds: float = Field(gt=0, le=86400, description="how long before it raises an event")
    max_speed: float = Field(default=0.01, gt=0, description="frame widths per second")


class LeftObject(_Rule):
    type: Literal["left_object"] = Field(description="the kind of rule")
    kinds: Kinds = Field(default=("object",), description="what the rule watches")
    zone: str = Field(description="the zone it applies to")
    seconds: float = Field(gt=0, le=86400, description="how long before it raises an event")
    max_speed: float = Field(default=0.005, gt=0, description="frame widths per second")


class Following(_Rule):
    type: Literal["following"] = Field(description="the kind of rule")
    distance: float = Field(default=0.08, gt=0, le=1, description="frame widths")
    seconds: float = Field(default=6.0, gt=0, le=3600,
                           description="how long one follows the other")
    min_speed: float = Field(default=0.03, gt=0, description="both must be moving")


class UnusualBehaviour(_Rule):
    """Scored by the unusual-behaviour model the sites trained together, once it is installed
    at the node (``nodes.learning.deployed``); does nothing before."""

    type: Literal["unusual_behaviour"] = Field(description="the kind of rule")
    min_seconds: float = Field(default=3.0, ge=3.0, le=3600,
                               description="a track is scored once it is this long (the "
                               "threshold is calibrated for 3 s on)")
    every_seconds: float = Field(default=1.0, ge=1.0, le=60,
                                 description="and again this often (calibrated for 1 s)")


Rule = Annotated[RestrictedArea | Loitering | LineCrossing | Occupancy | Running | WrongWay
                 | StoppedVehicle | LeftObject | Following | UnusualBehaviour,
                 Field(discriminator="type")]


class OnnxModel(BaseModel):
    """A site's own detector (see ``nodes.analytics.detection.OnnxDetector`` for the contract)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="the ONNX file (the site's own model)")
    classes: Kinds = Field(default=("person", "vehicle", "object"),
                           description="the kind of each class index the model outputs")
    min_score: float = Field(default=0.3, gt=0, le=1,
                             description="detections scoring less are ignored")


class ObjectDetection(BaseModel):
    """The default detector: NanoDet (COCO classes) from the model cache, behind the motion
    gate, at its own rate with the tracker in between (``nodes.analytics.detection``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_size: int = Field(default=320, ge=160, le=1280, multiple_of=32,
                            description="the frame's longer side is scaled to this many pixels "
                            "(larger finds smaller people, costs about the square)")
    rate: float = Field(default=10.0, gt=0, le=60,
                        description="frames analysed per second (the tracker and the rules "
                        "run on those; the camera's other frames are only redacted)")
    min_score: float = Field(default=0.2, gt=0, lt=1,
                             description="detections scoring less are ignored (weak ones only "
                             "continue a track: a person half hidden scores 0.2-0.35)")
    track_score: float = Field(default=0.4, gt=0, lt=1,
                               description="a detection must score this much to start a track "
                               "(weaker ones only continue tracks)")


class CameraAnalytics(BaseModel):
    """The analytics of one camera; ``[cameras.analytics]`` in the node config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zones: tuple[Zone, ...] = Field(default=(), description="named areas of the picture")
    lines: tuple[Line, ...] = Field(default=(), description="named lines for counting crossings")
    rules: tuple[Rule, ...] = Field(default=(), description="what raises an event (by `type`)")
    audio: AudioThresholds = Field(default=AudioThresholds(),
                                   description="bang and shout detection on the sound track")
    detector: Literal["nanodet", "motion", "hog", "onnx"] = Field(
        default="nanodet", description="NanoDet people, vehicles and left objects behind the "
        "motion gate (the default), motion blobs (the cheap fallback), OpenCV HOG people "
        "behind the motion gate, or the site's own ONNX model behind the motion gate")
    nanodet: ObjectDetection = Field(default=ObjectDetection(),
                                     description="size and rate, for detector = nanodet")
    onnx: OnnxModel | None = Field(default=None, description="the model, for detector = onnx")
    static_seconds: float = Field(default=60.0, gt=0, le=3600,
                                  description="how long a still object stays detected (the "
                                  "longest left-object or parking dwell this camera can see)")

    @model_validator(mode="after")
    def _references(self) -> CameraAnalytics:
        for what, items in (("zone", self.zones), ("line", self.lines), ("rule", self.rules)):
            ids = [item.id for item in items]
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{what} ids must be unique, repeated: {', '.join(repeated)}")
        if (self.detector == "onnx") != (self.onnx is not None):
            raise ValueError("detector: \"onnx\" goes with an [cameras.analytics.onnx] model "
                             "(path, classes), and only with it")
        zones, lines = {z.id for z in self.zones}, {line.id for line in self.lines}
        for index, rule in enumerate(self.rules):
            zone = getattr(rule, "zone", None)
            if zone is not None and zone not in zones:
                raise ValueError(f"rules.{index}.zone: no zone {zone!r} on this camera")
            line = getattr(rule, "line", None)
            if line is not None and line not in lines:
                raise ValueError(f"rules.{index}.line: no line {line!r} on this camera")
        return self
