"""The bodies the coordinator's use cases accept, validated at the door (the API, or the CLI
for ``NewUser``) before any use case sees them. Answers are plain JSON built by each use case."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from contract.aggregates import MAX_DELTA, MAX_EPSILON, MIN_EPSILON, AggregateKind
from contract.camera_placement import CameraPlacement
from contract.key_fields import Ed25519Public, SuperNodePublic, X25519Public
from contract.notices import CameraNotice
from contract.pins import ROLES, PinChange
from contract.warrants import Kind, Window, key_id
from coordinator.passwords import MIN_LENGTH
from coordinator.roles import Role
from privacy.signing import VerifyKey

_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"  # warrant, purpose and node ids
USERNAME = r"^[a-z0-9][a-z0-9_.-]{1,63}$"
_NUMBER = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")


def _not_a_number(value: Any) -> Any:
    # pydantic reads a number as seconds since 1970: "since=-2649" would mean 1969 (found by the
    # API fuzzer); the schema says an RFC 3339 date-time, so a number is a bad request
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("an RFC 3339 date-time such as 2026-12-06T09:00:00Z, not a number")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]


class NewQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$",
                                 description="optional; a query id is used once only")
    warrant_id: str = Field(max_length=128)
    targets: list[str] = Field(min_length=1, description="plates, normalized at the door")
    cameras: list[str] | None = Field(default=None, max_length=1024,
                                      description="default: all the warrant's cameras")
    window: Window | None = Field(default=None, description="default: the warrant's window")
    references: dict[str, str] | None = Field(
        default=None, description="face searches: a base64 JPEG or PNG per target id, sealed "
        "to each node and never stored here")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["match", "no_match"]


class NewAggregate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AggregateKind
    window: Window
    epsilon: float = Field(ge=MIN_EPSILON, le=MAX_EPSILON, allow_inf_nan=False,
                           description="spent at each node")
    delta: float = Field(default=0.0, ge=0, le=MAX_DELTA,
                         description="0: discrete Laplace; > 0: discrete Gaussian")
    sites: list[str] | None = Field(default=None, max_length=1024, description="default: all")
    cameras: list[str] | None = Field(default=None, max_length=1024,
                                      description="default: every camera of those sites")


class Draft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warrant_id: str | None = Field(default=None, pattern=_NAME)
    kind: Kind
    purpose_code: str = Field(pattern=_NAME)
    sites: list[str] = Field(min_length=1, max_length=256)
    cameras: list[str] = Field(min_length=1, max_length=1024)
    window: Window
    not_before: Instant
    expires_at: Instant
    max_uses: int = Field(ge=1, le=1000)
    targets: list[str] = Field(min_length=1)
    case_number: str = Field(min_length=1, max_length=128)
    justification: str = Field(min_length=1, max_length=20_000,
                               description="for a consent: who consented, for whom, and why")
    references: dict[str, str] | None = Field(
        default=None, description="face searches: a base64 JPEG or PNG per target id, kept as "
        "its plain PNG (what OpenCV decodes); the warrant commits to each plain PNG's SHA-256, "
        "and only these images can be searched")


class NewSignature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["judge", "dpo"]
    signature: str = Field(max_length=200, description="base64 Ed25519 over the payload")


class Decline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["judge", "dpo"]
    reason: str = Field(min_length=3, max_length=2000,
                        description="why the signer will not sign; kept in the audit details")


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME)
    role: Role
    agency: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    password: str = Field(min_length=MIN_LENGTH, max_length=1024)
    signing_key: Ed25519Public | None = Field(default=None, description="judges and DPOs")


class NewNode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_id: str = Field(pattern=_NAME)
    site_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    cameras: list[str] = Field(min_length=1, max_length=256, description="default: the "
                               "cameras camera_notices name (one notice per camera)")
    identity_key: Ed25519Public
    key_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$", description="the "
                               "identity key's fingerprint as `safecity node keys` prints it; "
                               "checked against identity_key, so a document altered or mixed up "
                               "on its way is refused")
    sealing_key: X25519Public
    flower_key: SuperNodePublic | None = Field(
        default=None, description="the site's Flower SuperNode key (federated learning)")
    camera_notices: list[CameraNotice] = Field(
        min_length=1, max_length=256, description="each enrolled camera's public notice (from "
        "`safecity node keys`, stated from the node's configuration), published on the "
        "transparency portal; one for every camera (GDPR Art. 13: no camera without its notice)")
    camera_placements: list[CameraPlacement] = Field(
        default=[], max_length=256, description="where each camera stands and looks (latitude, "
        "longitude, heading, field of view): the control room's map; a camera without one is "
        "listed there as not placed")

    @model_validator(mode="before")
    @classmethod
    def _cameras_from_notices(cls, data: Any) -> Any:
        """A document that names no cameras enrols those its notices are for."""
        if isinstance(data, dict) and "cameras" not in data \
                and isinstance(data.get("camera_notices"), list):
            named = [n.get("camera") for n in data["camera_notices"] if isinstance(n, dict)]
            if named and all(isinstance(c, str) for c in named):
                return {**data, "cameras": named}
        return data

    @field_validator("cameras")
    @classmethod
    def _cameras(cls, value: list[str]) -> list[str]:
        if any(not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", c) for c in value):
            raise ValueError("camera ids are lower-case letters, digits, '-' and '_'")
        return sorted(set(value))

    @model_validator(mode="after")
    def _noticed_cameras(self) -> NewNode:
        if self.key_id is not None \
                and self.key_id != key_id(VerifyKey.parse(self.identity_key)):
            raise ValueError(f"key_id {self.key_id} is not the fingerprint of identity_key "
                             f"({key_id(VerifyKey.parse(self.identity_key))}): the document "
                             "was altered or mixed with another node's; print it again with "
                             "`safecity node keys`")
        unknown = sorted({n.camera for n in self.camera_notices} - set(self.cameras))
        if unknown:
            raise ValueError(f"camera_notices name cameras not enrolled: {', '.join(unknown)}")
        # a camera enrolled without its notice showed "not stated" for everything on the portal
        silent = sorted(set(self.cameras) - {n.camera for n in self.camera_notices})
        if silent:
            raise ValueError(f"camera_notices lack cameras {', '.join(silent)}: send the "
                             "camera_notices `safecity node keys` prints for the node's "
                             "configuration, which must list these cameras")
        placed = [p.camera for p in self.camera_placements]
        unknown = sorted(set(placed) - set(self.cameras))
        if unknown:
            raise ValueError(f"camera_placements name cameras not enrolled: {', '.join(unknown)}")
        twice = sorted({c for c in placed if placed.count(c) > 1})
        if twice:
            raise ValueError(f"camera_placements place a camera more than once: "
                             f"{', '.join(twice)}")
        return self


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME)


IncidentState = Literal["new", "acknowledged", "assigned", "closed"]
INCIDENT_STATES: tuple[IncidentState, ...] = ("new", "acknowledged", "assigned", "closed")
MAX_NOTE = 2000
MAX_PAGE = 200


class IncidentFilter(BaseModel):
    """Which incidents to list (``GET /incidents`` query parameters): each filter given must
    match; ``since``/``until`` keep those seen in the interval (last seen at or after
    ``since``, first seen at or before ``until``)."""

    model_config = ConfigDict(extra="forbid")

    site_id: str | None = Field(default=None, pattern=_NAME)
    camera: str | None = Field(default=None, pattern=_NAME)
    type: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")
    state: IncidentState | None = None
    since: Instant | None = None
    until: Instant | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=1_000_000)

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # stored times are UTC, and SQLite compares them as text: an offset must not reach it
        try:
            return value.astimezone(UTC) if value else None
        except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC: a bad request, not a 500
            raise ValueError("the time in UTC lies outside the calendar") from None

    @model_validator(mode="after")
    def _interval(self) -> IncidentFilter:
        if self.since and self.until and self.since > self.until:
            raise ValueError("since must not be after until")
        return self


class Closing(BaseModel):
    """Closing an incident: a note saying what was done, kept with the incident."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=MAX_NOTE)

    @field_validator("note")
    @classmethod
    def _said(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the note must say what was done")
        if any(ord(c) < 32 and c not in "\r\n\t" for c in value):
            raise ValueError("the note holds control characters")
        return value


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    types: list[str] = Field(default=[], max_length=32,
                             description="alert types to send; empty: all")


class Proposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: list[PinChange] = Field(min_length=1, max_length=len(ROLES))
    reason: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,127}$",
                        description="a short code, e.g. judge-appointed")


class PinSignatureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signature: str = Field(max_length=200, description="base64 Ed25519 over the payload")


WALL_SIZES = (1, 2, 3, 4)
TILE = r"^[a-z0-9][a-z0-9_.:-]{0,127}/[a-z0-9][a-z0-9_-]{0,62}$"  # node_id/camera


class WallArrangement(BaseModel):
    """A video wall as its operator arranges it: ``size`` by ``size`` tiles, row by row, each
    showing one enrolled camera (``node_id/camera``) or nothing."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(ge=1, le=4, description="tiles per row and per column (1x1 to 4x4)")
    tiles: list[str | None] = Field(max_length=16, description="row by row: node_id/camera, "
                                    "or null for an empty tile")

    @field_validator("tiles")
    @classmethod
    def _tiles(cls, value: list[str | None]) -> list[str | None]:
        if any(t is not None and not re.match(TILE, t) for t in value):
            raise ValueError("a tile names a camera as node_id/camera, or is null")
        return value

    @model_validator(mode="after")
    def _square(self) -> WallArrangement:
        if len(self.tiles) != self.size * self.size:
            raise ValueError(f"a {self.size}x{self.size} wall has {self.size * self.size} "
                             f"tiles, not {len(self.tiles)}")
        return self
