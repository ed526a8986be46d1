"""The evidence of an alert as the coordinator's control room sees it: a snapshot of the
triggering frame after redaction (faces and plates already hidden at the site), with the
triggering object's box drawn on it, downscaled and size-capped, as a JPEG.

The node signs canonical JSON metadata (which event of which camera, the picture's size, the
box, the SHA-256 of the JPEG) with its enrolled key under its own domain string; the JPEG
travels beside it, bound by its digest, so the signed part stays small and the picture is
checked byte for byte (``coordinator.evidence``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contract.queries import Signed

MAX_JPEG_BYTES = 200_000  # a node's own cap is lower (``evidence_max_bytes``, default 120 kB)
MAX_JPEG_BASE64 = (MAX_JPEG_BYTES + 2) // 3 * 4
MAX_SIDE = 1920
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class EvidenceBox(BaseModel):
    """The triggering object's box, in pixels of the JPEG (drawn on it already)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    left: int = Field(ge=0, le=MAX_SIDE)
    top: int = Field(ge=0, le=MAX_SIDE)
    right: int = Field(ge=0, le=MAX_SIDE)
    bottom: int = Field(ge=0, le=MAX_SIDE)


class Evidence(Signed):
    DOMAIN: ClassVar[bytes] = b"safecity alert evidence/v1\n"

    version: int = 1
    node_id: str = Field(pattern=_NAME)
    site: str = Field(pattern=_NAME)
    camera: str = Field(pattern=_ID)
    seq: int = Field(ge=1, description="the node's number of the event this is the evidence of")
    time: AwareDatetime = Field(description="the event's time: the frame's place in the video")
    width: int = Field(ge=1, le=MAX_SIDE)
    height: int = Field(ge=1, le=MAX_SIDE)
    box: EvidenceBox | None = Field(default=None, description="none for an event about the "
                                    "whole scene (a weapon, aggression, an occupancy count)")
    jpeg_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    jpeg_bytes: int = Field(ge=1, le=MAX_JPEG_BYTES)


class SignedEvidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    evidence: Evidence
    signature: str = Field(max_length=200)
    jpeg: str = Field(max_length=MAX_JPEG_BASE64, description="base64 of the redacted JPEG")
