"""The analytics events a node sends the coordinator through the broker: anonymous (type, rule,
camera, zone or line, time, counts, a scored rule's score, site-local tokens; never pixels,
never poses, never identities), in batches signed with the node's enrolled key under their own
domain string."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)

from contract.queries import Signed

MAX_BATCH = 500
# events the coordinator keeps as counts (nothing to handle: no incident, no evidence)
COUNTED_TYPES = frozenset({"line_crossing"})
# a body-worn camera's clip taken in at a site (``nodes.bodycam_ingest``): the device is the
# camera, the clip's redacted middle frame the evidence; no rule fires it, the intake does
BODYCAM_CLIP = "bodycam_clip"
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class AnalyticsEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=1, description="the node's own event number: resends are recognised")
    type: str = Field(pattern=r"^[a-z_]{1,32}$")
    rule: str = Field(pattern=_ID)
    camera: str = Field(pattern=_ID)
    zone: str | None = Field(default=None, pattern=_ID)
    line: str | None = Field(default=None, pattern=_ID)
    direction: str | None = Field(default=None, pattern=_ID)
    time: AwareDatetime
    count: int = Field(default=1, ge=0, le=100_000)
    tokens: tuple[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")], ...] = Field(
        default=(), max_length=16)
    score: int | None = Field(default=None, ge=0, le=1000,
                              description="a scored rule's (weapon, aggression) score in "
                              "thousandths: signed JSON carries no floats")

    @model_serializer(mode="wrap")
    def _without_absent_score(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """An event without a score is serialised, and so signed, as before the field existed:
        batches signed by nodes that predate it still verify, and their events still reach a
        coordinator that predates it."""
        data: dict[str, Any] = handler(self)
        if data.get("score") is None:
            data.pop("score", None)
        return data


class EventBatch(Signed):
    DOMAIN: ClassVar[bytes] = b"safecity events/v1\n"

    version: int = 1
    node_id: str = Field(pattern=_NAME)
    site: str = Field(pattern=_NAME)
    sent_at: AwareDatetime
    events: tuple[AnalyticsEvent, ...] = Field(min_length=1, max_length=MAX_BATCH)


class SignedEventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    batch: EventBatch
    signature: str = Field(max_length=200)
