"""A camera's live view as the coordinator's control room sees it: the newest frame after
redaction (faces and plates already hidden at the site), downscaled, as a JPEG, signed by the
node's enrolled key under its own domain string. Latest only: nothing is kept but the newest."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contract.queries import Signed

# a snapshot older than this is dropped unread by the worker (the next one replaces it)
EXPIRES_SECONDS = 30
MAX_JPEG_BASE64 = 400_000  # ~300 kB of JPEG: a 640-px frame is far smaller
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"


class Snapshot(Signed):
    DOMAIN: ClassVar[bytes] = b"safecity redacted snapshot/v1\n"

    version: int = 1
    node_id: str = Field(pattern=_NAME)
    site: str = Field(pattern=_NAME)
    camera: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    time: AwareDatetime
    jpeg: str = Field(max_length=MAX_JPEG_BASE64, description="base64 of the redacted JPEG")


class SignedSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    snapshot: Snapshot
    signature: str = Field(max_length=200)
