"""Where a camera stands and where it looks, as stated at enrolment: its position (WGS 84
latitude and longitude, decimal degrees, as GeoJSON and Leaflet take them), its heading (the
compass bearing of the middle of its view, degrees clockwise from true north) and its field of
view (the horizontal angle it sees, degrees), and how far it usefully sees (metres, for drawing
its cone on the control room's map). Validated here, at the boundary, so that the map never
draws a camera at an impossible place."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Placement(BaseModel):
    """A camera's place and view, as its node's configuration states it
    (``[cameras.placement]`` in node.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    latitude: float = Field(ge=-90, le=90, description="WGS 84, decimal degrees, north > 0")
    longitude: float = Field(ge=-180, le=180, description="WGS 84, decimal degrees, east > 0")
    heading: float = Field(ge=0, lt=360, description="bearing of the view's centre, degrees "
                           "clockwise from true north")
    field_of_view: float = Field(gt=0, le=360, description="horizontal angle of view, degrees")
    range_m: float = Field(default=40, gt=0, le=2000,
                           description="how far the camera usefully sees, metres")


class CameraPlacement(Placement):
    """A camera's placement as enrolment carries it: the camera's name and its ``Placement``."""

    camera: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
