"""The messages a coordinator and a node exchange about a watchlist query.

Part of the contract both sides import (docs/architecture.md, "Layers"). Every message is canonical
JSON signed with Ed25519 under its own domain string, so a signature made for one kind of message
can never be replayed as another.
"""

from __future__ import annotations

import base64
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contract.receipts import Receipt
from contract.warrants import Kind, SignedWarrant, Window
from kernel.canonical import CanonicalJSONError, canonical_json
from privacy.signing import SigningKey, VerifyKey

MAX_TARGETS = 10_000
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"


def targets_info(query_id: str, node_id: str) -> bytes:
    """HPKE ``info`` for sealed targets: binds them to one query for one node."""
    return f"safecity query targets/v1 {query_id} {node_id}".encode()


class Signed(BaseModel):
    """Mixin: ``payload()`` is the domain-separated canonical JSON that gets signed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    DOMAIN: ClassVar[bytes] = b""

    def payload(self) -> bytes:
        return self.DOMAIN + canonical_json(self.model_dump(mode="json"))

    def sign(self, key: SigningKey) -> str:
        return base64.b64encode(key.sign(self.payload())).decode()

    def signed_by(self, key: VerifyKey, signature: str) -> bool:
        """False also for content that has no canonical form (a float, a huge integer): no
        one can have signed it."""
        try:
            raw = base64.b64decode(signature, validate=True)
            payload = self.payload()
        except (ValueError, CanonicalJSONError):
            return False
        return key.is_valid(payload, raw)


class LogConsistency(BaseModel):
    """An RFC 9162 consistency proof between the largest witnessed checkpoint a node reported
    holding (``held_size``) and the checkpoint of the query's receipt, in whichever direction is
    the smaller to the larger: a node accepts a checkpoint only if its history agrees with the
    one it accepted before."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    held_size: int = Field(ge=0, le=2**63 - 1)
    proof: tuple[str, ...] = Field(default=(), max_length=64)  # base64 SHA-256 hashes


class QueryRequest(Signed):
    """What the coordinator asks one node, under one warrant or consent."""

    DOMAIN: ClassVar[bytes] = b"safecity query/v1\n"

    version: int = 1
    query_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    node_id: str = Field(pattern=_NAME)
    site: str = Field(pattern=_NAME)
    kind: Kind
    cameras: tuple[str, ...] = Field(min_length=1, max_length=256)
    window: Window
    issued_at: AwareDatetime
    warrant: SignedWarrant
    # The audit entry that registered the warrant: a receipt (entry, inclusion proof, signed
    # checkpoint) and the salt that opens its ``warrant_sha256`` commitment.
    warrant_receipt: Receipt  # bounded in size and depth (``contract.receipts``)
    warrant_opening: str
    # Absent for a node that has never reported holding a witnessed checkpoint.
    log_consistency: LogConsistency | None = None
    # HPKE-sealed to the node's X25519 key: canonical JSON of the targets (plates, or face
    # reference images), so the broker and anything between never sees them.
    sealed_targets: str = Field(max_length=64 * 1024 * 1024)


class SignedQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request: QueryRequest
    signature: str


class Status(StrEnum):
    ANSWERED = "answered"
    REFUSED = "refused"
    PENDING = "pending"
    UNREACHABLE = "unreachable"
    FAILED = "failed"


class Hit(BaseModel):
    """One sighting that matched: the minimum an analyst needs, nothing around it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sighting_id: str
    target: str  # the watchlist entry that matched (a plate, or a face reference id)
    camera: str
    time: AwareDatetime
    thumbnail: str | None = None  # base64 JPEG of the redacted frame


class QueryResult(Signed):
    """What a node answers, signed with its enrolled key."""

    DOMAIN: ClassVar[bytes] = b"safecity query result/v1\n"

    version: int = 1
    query_id: str
    node_id: str
    status: Status
    reason: str | None = None  # a Refusal code when refused
    detail: str | None = None
    hits: tuple[Hit, ...] = ()
    searched: int = 0  # sightings or frames inside the scope the node searched
    log_size: int | None = None  # the largest witnessed checkpoint this node now holds
    node_log_index: int | None = None  # the node's own audit entry for this answer
    answered_at: AwareDatetime


class SignedResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    result: QueryResult
    signature: str


def result_info(query_id: str, node_id: str) -> bytes:
    """HPKE ``info`` for a node's answer, sealed to the coordinator: binds it to one query and
    one node, so the broker's result store never holds hits in the clear."""
    return f"safecity query result/v1 {query_id} {node_id}".encode()


class SealedResult(BaseModel):
    """What a node's worker returns through the result backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = "safecity-sealed-result/v1"
    query_id: str
    node_id: str
    sealed: str  # base64 HPKE of the SignedResult JSON


class Revocation(Signed):
    """A judge (or, for a consent, the DPO) withdrawing a legal basis; nodes keep a ledger."""

    DOMAIN: ClassVar[bytes] = b"safecity revocation/v1\n"

    version: int = 1
    warrant_id: str = Field(pattern=_NAME)
    revoked_at: AwareDatetime
    reason: str = Field(pattern=_NAME)


class SignedRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    revocation: Revocation
    key_id: str
    signature: str


