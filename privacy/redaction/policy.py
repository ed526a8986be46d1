"""What to redact and how, per camera: one validated object, loaded from the node's config."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Style(StrEnum):
    """How a region is hidden (see :mod:`privacy.redaction.styles`)."""

    FILL = "fill"
    PIXELATE = "pixelate"
    BLUR = "blur"


class Shape(StrEnum):
    RECTANGLE = "rectangle"
    ELLIPSE = "ellipse"


class RedactionPolicy(BaseModel):
    """Redaction settings. Defaults are the strong ones: solid fill, generous margin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    faces: bool = Field(default=True, description="hide faces")
    plates: bool = Field(default=True, description="hide licence plates")
    style: Style = Field(default=Style.FILL, description="how a region is hidden; fill is the "
                         "only style a network cannot undo")
    shape: Shape = Field(default=Shape.RECTANGLE, description="shape of the hidden region")
    colour: tuple[int, int, int] = Field(default=(0, 0, 0), description="BGR fill colour")
    margin: float = Field(default=0.3, ge=0.0, le=2.0,
                          description="fraction of a box's size added on each side")
    detect_every: int = Field(default=4, ge=1, le=50,
                              description="run the detectors on one frame in this many")
    plates_every: int = Field(default=2, ge=1, le=50,
                              description="run the plate detector on one keyframe in this many")
    persist_seconds: float = Field(default=1.0, ge=0.0, le=30.0,
                                   description="keep a region covered this long after its "
                                               "last detection")
    face_threshold: float = Field(default=0.35, gt=0.0, lt=1.0,
                                  description="face detector score above which a face is hidden")
    face_input_width: int | None = Field(default=1280, ge=160,
                                         description="face detector input width; None = native")
    plate_threshold: float = Field(default=0.5, gt=0.0, lt=1.0,
                                   description="text detector score above which a plate is hidden")
    plate_input_width: int | None = Field(default=800, ge=160,
                                          description="plate detector input width; None = native")
