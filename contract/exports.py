"""Evidence export under a warrant: what the officer presents at the node, and the report the
node sends the coordinator so that the export is an entry in the city's audit log.

Both sides import this module (docs/architecture.md, "Layers"). The request is not signed by anyone
but the warrant's judge: the node checks the warrant, its audit-log receipt and the scope
itself. The report is signed with the node's enrolled key under its own domain string, so it
can never pass for another message.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contract.queries import LogConsistency, Signed
from contract.warrants import SignedWarrant, Window

_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"
_EXPORT_ID = r"^[0-9a-f-]{36}$"
# Who receives the sealed export, as the manifest's chain of custody names them.
RECIPIENT = r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,127}$"


class ExportRequest(BaseModel):
    """One evidence export at one node, under one evidence-export warrant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    export_id: str = Field(pattern=_EXPORT_ID)
    cameras: tuple[str, ...] = Field(min_length=1, max_length=256)
    window: Window
    recipient: str = Field(pattern=RECIPIENT)
    warrant: SignedWarrant
    # The audit entry that registered the warrant, as a query carries it (see QueryRequest).
    warrant_receipt: dict[str, Any]
    warrant_opening: str
    # From the size of the log this node holds to the receipt's checkpoint (see QueryRequest).
    log_consistency: LogConsistency | None = None


class ExportOrder(BaseModel):
    """What is presented at the node (shaped like a query so one check serves both)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: ExportRequest


class ExportReport(Signed):
    """What the node tells the coordinator after it exported: the city's log records it."""

    DOMAIN: ClassVar[bytes] = b"safecity export report/v1\n"

    version: int = 1
    export_id: str = Field(pattern=_EXPORT_ID)
    node_id: str = Field(pattern=_NAME)
    site: str = Field(pattern=_NAME)
    warrant_id: str = Field(pattern=_NAME)
    warrant_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    cameras: tuple[str, ...] = Field(min_length=1, max_length=256)
    window: Window
    segments: int = Field(ge=1)
    recipient: str = Field(pattern=RECIPIENT)
    export_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # of the sealed file handed over
    exported_at: AwareDatetime
    log_size: int | None = Field(default=None, ge=0)  # the witnessed log size the node holds


class SignedExportReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    report: ExportReport
    signature: str = Field(max_length=200)
