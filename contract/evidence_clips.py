"""A short redacted clip of an alert's triggering frames, asked for by an operator and sent by
the node that raised the alert (issue 23; the design is in ``docs/architecture.md``, "Evidence
clips on request").

Two messages. The coordinator's ``ClipRequest`` travels on the node's own queue, signed with
the coordinator's pinned key and carrying the receipt of the audit entry that logged the
request: the node answers only a request the city's witnessed log already holds (as it does for
a warrant), so no clip leaves a site without a public trace. The node answers with one
``ClipFrame`` per picture, each signed like an alert's evidence (metadata as canonical JSON,
the JPEG beside it bound by its SHA-256), or one signed ``ClipRefusal`` saying why not. Frames
are the redactor's output, downscaled: never a raw pixel."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contract.evidence import EvidenceBox
from contract.queries import LogConsistency, Signed
from contract.receipts import Receipt

MAX_FRAMES = 64  # a node's own clip is shorter (about (before + after) * fps frames)
MAX_FRAME_BYTES = 80_000  # a node's own cap is lower (``evidence_clip_max_bytes``)
MAX_FRAME_BASE64 = (MAX_FRAME_BYTES + 2) // 3 * 4
MAX_SIDE = 1920
# a clip runs at most this far before and after its event's frame (a node's own span is
# ``evidence_clip_before_seconds`` / ``_after_seconds``); a frame timed further off is refused
MAX_SECONDS_FROM_EVENT = 10
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_UUID = r"^[0-9a-f-]{36}$"


class ClipRequest(Signed):
    """The coordinator asks one node for the clip of one of its events."""

    DOMAIN: ClassVar[bytes] = b"safecity evidence clip request/v1\n"

    version: int = 1
    request_id: str = Field(pattern=_UUID)
    node_id: str = Field(pattern=_NAME)
    site: str = Field(pattern=_NAME)
    camera: str = Field(pattern=_ID)
    seq: int = Field(ge=1, description="the node's number of the event the alert came from")
    requester: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
                           description="the operator's pseudonym, as the audit entry has it")
    issued_at: AwareDatetime
    # The audit entry (a ``consultation``, outcome ``evidence_clip_requested``, whose details
    # name this request_id, node, camera and seq): entry, inclusion proof, witnessed checkpoint.
    receipt: Receipt  # bounded in size and depth (``contract.receipts``)
    # The log keeps details only as salted commitments: the salts (base64, ``AuditLog.opening``)
    # of the entry's details ``request_id``, ``node_id``, ``camera``, ``seq`` and ``requester``
    # (values as logged: strings, ``seq`` an integer), so the node can check what it commits to.
    openings: dict[str, str] = Field(default_factory=dict, max_length=8)
    # Absent for a node that has never reported holding a witnessed checkpoint.
    log_consistency: LogConsistency | None = None


class SignedClipRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request: ClipRequest
    signature: str = Field(max_length=200)


class ClipFrame(Signed):
    """One picture of a clip: the redacted frame, downscaled, the event's frame boxed."""

    DOMAIN: ClassVar[bytes] = b"safecity evidence clip frame/v1\n"

    version: int = 1
    request_id: str = Field(pattern=_UUID)
    node_id: str = Field(pattern=_NAME)
    site: str = Field(pattern=_NAME)
    camera: str = Field(pattern=_ID)
    seq: int = Field(ge=1)
    index: int = Field(ge=0, lt=MAX_FRAMES, description="this picture's place in the clip")
    frames: int = Field(ge=1, le=MAX_FRAMES, description="how many pictures the clip has")
    video_frame: int = Field(ge=0, description="the frame's number in the camera's stream")
    time: AwareDatetime = Field(description="the frame's place in the video")
    event_frame: bool = Field(description="the frame the event was raised on")
    width: int = Field(ge=1, le=MAX_SIDE)
    height: int = Field(ge=1, le=MAX_SIDE)
    box: EvidenceBox | None = Field(default=None, description="on the event's frame only")
    jpeg_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    jpeg_bytes: int = Field(ge=1, le=MAX_FRAME_BYTES)


class SignedClipFrame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    frame: ClipFrame
    signature: str = Field(max_length=200)
    jpeg: str = Field(max_length=MAX_FRAME_BASE64, description="base64 of the redacted JPEG")


class ClipRefused(StrEnum):
    NOT_LOGGED = "not_logged"  # no valid receipt of the request in the witnessed log
    BAD_REQUEST = "bad_request"  # not signed by the pinned coordinator key, or malformed
    NOT_THIS_NODE = "not_this_node"
    UNKNOWN_EVENT = "unknown_event"  # no such event of this camera at this node
    NO_CLIP = "no_clip"  # the event has no clip (never cut, or past its keeping time)


class ClipRefusal(Signed):
    DOMAIN: ClassVar[bytes] = b"safecity evidence clip refusal/v1\n"

    version: int = 1
    request_id: str = Field(pattern=_UUID)
    node_id: str = Field(pattern=_NAME)
    seq: int = Field(ge=1)
    reason: ClipRefused
    detail: str = Field(max_length=500)


class SignedClipRefusal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    refusal: ClipRefusal
    signature: str = Field(max_length=200)
