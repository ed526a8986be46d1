"""The public notice of a camera (GDPR Art. 13, the sign on the pole, online): where it looks in
general terms, why, what it detects and what it never does, and how long each class of data is
kept. A node states it at enrolment; the coordinator publishes it on the transparency portal."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

NEVER = ("identify faces outside a warrant's or consent's scope",
         "keep licence plates in the clear (keyed hashes only)",
         "send pictures that show faces or plates")


class CameraNotice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    camera: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    location: str = Field(default="", max_length=200, description="general location, public")
    purpose: str = Field(default="", max_length=200)
    detects: tuple[str, ...] = Field(default=(), max_length=64)
    never: tuple[str, ...] = Field(default=NEVER, max_length=16)
    retention_days: dict[str, int] = Field(
        default={}, max_length=16,
        description="days each data class is kept at the site (raw_video, trajectories, ...)")
