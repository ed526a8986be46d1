"""Audit records: what is logged about every decision touching personal data.

Fields follow the Law Enforcement Directive (EU 2016/680) Art. 25 and the AI Act Art. 12: event
id, time, actor (pseudonym, role, agency), second approver, action, legal basis, warrant or consent
id, case, purpose code, scope, outcome, counts returned, recipients.

The public leaf never holds personal details. Each detail (a name, a plate, a case number, case
notes, the targets of a search) becomes a salted commitment ``SHA-256(salt || canonical(value))``
in the leaf, and the value with its salt lives in the DPO-only detail store. Erasing a detail
deletes the value and its salt: the leaf, and so the tree, stays unchanged, and the commitment
can no longer be linked to anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kernel.canonical import canonical_json, parse_canonical
from kernel.errors import VerificationError

SALT_BYTES = 32
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"


class Action(StrEnum):
    COLLECTION = "collection"
    CONSULTATION = "consultation"
    DISCLOSURE = "disclosure"
    COMBINATION = "combination"
    ERASURE = "erasure"
    LEGAL_HOLD = "legal_hold"
    KEY_RELEASE = "key_release"
    EXPORT = "export"
    RETENTION_PURGE = "retention_purge"
    WARRANT_DRAFTED = "warrant_drafted"
    WARRANT_SIGNED = "warrant_signed"
    WARRANT_REGISTERED = "warrant_registered"
    WARRANT_USED = "warrant_used"
    WARRANT_EXPIRED = "warrant_expired"
    WARRANT_REFUSED = "warrant_refused"  # a check stopped a signature or a search
    WARRANT_DECLINED = "warrant_declined"  # a judge (or the DPO) declined to sign, with a reason
    WARRANT_REVOKED = "warrant_revoked"
    CONSENT_REGISTERED = "consent_registered"
    QUERY_DISPATCHED = "query_dispatched"
    QUERY_ANSWERED = "query_answered"
    MATCH_CONFIRMED = "match_confirmed"
    AGGREGATE_RELEASED = "aggregate_released"
    TRAINING_RUN = "training_run"
    CONFIG_CHANGE = "config_change"
    NODE_ENROLLED = "node_enrolled"
    ACCESS_DENIED = "access_denied"
    # the control room's work: an incident or a single alert acknowledged, assigned, closed
    ALERT_HANDLED = "alert_handled"


# An access_denied entry with this outcome stands for ``counts_returned`` denials of anonymous
# callers in one interval (counted per source network, which only the details hold): anyone
# can cause a denial, and one permanent entry each would let anyone grow the log.
DENIALS_COUNTED = "denials_counted"
# An enrolled node's signed messages refused in one interval: one entry per node, naming it,
# with the count per outcome (a rogue node's refusals grew the log one entry each, red team 3).
SIGNED_REFUSALS_COUNTED = "signed_refusals_counted"


def occurrences(record: PublicRecord) -> int:
    """How many actions ``record`` stands for: 1, or the count of an aggregated denial entry."""
    if record.action is Action.ACCESS_DENIED and record.outcome in (DENIALS_COUNTED,
                                                                    SIGNED_REFUSALS_COUNTED):
        return record.counts_returned
    return 1


class LegalBasis(StrEnum):
    WARRANT = "warrant"
    CONSENT = "consent"
    STATUTE = "statute"  # e.g. retention duties, the DPO's own supervision
    NONE = "none"  # recorded for refusals and denials


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pseudonym: str = Field(pattern=_NAME)
    role: str = Field(pattern=_NAME)
    agency: str = Field(pattern=_NAME)


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        return rfc3339(parse_time(value))


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sites: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    window: Window | None = None


_DECIMAL = r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,17})?([eE]-[0-9]{1,3})?$"


class PrivacyLoss(BaseModel):
    """Differential privacy spent by a release (decimal strings: canonical JSON has no
    floats). Public: how much of each site's budget goes where is what citizens may check."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epsilon: str = Field(pattern=_DECIMAL)
    delta: str = Field(default="0", pattern=_DECIMAL)

    @classmethod
    def of(cls, epsilon: float, delta: float = 0.0) -> PrivacyLoss:
        """Six significant digits, as decimal strings."""
        return cls(epsilon=_decimal(epsilon), delta=_decimal(delta))

    def values(self) -> tuple[float, float]:
        return float(self.epsilon), float(self.delta)


class TrainingRun(BaseModel):
    """Which federated training an entry is about (public: no personal data in a model run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(pattern=_NAME)
    task: str = Field(pattern=_NAME)
    rounds: int = Field(ge=0, le=100_000)


class PublicRecord(BaseModel):
    """The leaf: what anyone may read. Details appear only as commitments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    event_id: str
    time: str
    actor: Actor
    second_approver: Actor | None = None
    action: Action
    legal_basis: LegalBasis
    warrant_id: str | None = Field(default=None, max_length=128)
    consent_id: str | None = Field(default=None, max_length=128)
    purpose_code: str | None = Field(default=None, pattern=_NAME)
    scope: Scope = Scope()
    outcome: str = Field(pattern=_NAME)
    counts_returned: int = Field(default=0, ge=0)
    recipients: tuple[str, ...] = ()
    privacy_loss: PrivacyLoss | None = None
    training: TrainingRun | None = None
    commitments: dict[str, str] = {}

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        return rfc3339(parse_time(value))

    @field_validator("commitments")
    @classmethod
    def _commitments(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not name.isidentifier() or len(digest) != 64 or not _is_hex(digest):
                raise ValueError(f"commitment {name!r} must be a hex SHA-256")
        return value

    def leaf_data(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_leaf(cls, data: bytes) -> PublicRecord:
        try:
            return cls.model_validate(parse_canonical(data))
        except VerificationError:
            raise
        except Exception as exc:
            raise VerificationError(f"not an audit record: {exc}") from None


class Event(BaseModel):
    """What a caller logs: the public fields plus personal ``details`` (committed, not public)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Actor
    action: Action
    legal_basis: LegalBasis
    outcome: str = Field(pattern=_NAME)
    second_approver: Actor | None = None
    warrant_id: str | None = None
    consent_id: str | None = None
    purpose_code: str | None = None
    scope: Scope = Scope()
    counts_returned: int = 0
    recipients: tuple[str, ...] = ()
    privacy_loss: PrivacyLoss | None = None
    training: TrainingRun | None = None
    details: dict[str, Any] = {}
    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    time: str = Field(default_factory=lambda: rfc3339(datetime.now(UTC)))

    @field_validator("details")
    @classmethod
    def _details(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if not name.isidentifier():
                raise ValueError(f"detail name {name!r} must be an identifier")
            canonical_json(item)  # refuses floats and non-JSON values now, not at commit time
        return value


def under(basis: str, document_id: str | None) -> dict[str, Any]:
    """The legal-basis fields of an event done under a warrant or a consent (``basis`` is
    "warrant" or "consent"): the document's id goes in the field its kind names."""
    legal = LegalBasis(basis)
    return {"legal_basis": legal,
            "warrant_id": document_id if legal is LegalBasis.WARRANT else None,
            "consent_id": document_id if legal is LegalBasis.CONSENT else None}


def commitment(salt: bytes, value: Any) -> str:
    return hashlib.sha256(salt + canonical_json(value)).hexdigest()


def commit(event: Event) -> tuple[PublicRecord, dict[str, tuple[bytes, bytes]]]:
    """Split an event into its public record and its sealed details ``{name: (salt, value)}``."""
    sealed = {}
    commitments = {}
    for name, value in sorted(event.details.items()):
        salt = os.urandom(SALT_BYTES)
        sealed[name] = (salt, canonical_json(value))
        commitments[name] = commitment(salt, value)
    public = PublicRecord(
        event_id=event.event_id, time=event.time, actor=event.actor,
        second_approver=event.second_approver, action=event.action,
        legal_basis=event.legal_basis, warrant_id=event.warrant_id, consent_id=event.consent_id,
        purpose_code=event.purpose_code, scope=event.scope, outcome=event.outcome,
        counts_returned=event.counts_returned, recipients=event.recipients,
        privacy_loss=event.privacy_loss, training=event.training, commitments=commitments,
    )
    return public, sealed


def opens(record: PublicRecord, name: str, salt: bytes, value: bytes) -> bool:
    """Whether a stored detail matches the commitment in the public record (constant time)."""
    expected = record.commitments.get(name)
    if expected is None:
        return False
    actual = hashlib.sha256(salt + value).hexdigest()
    return hmac.compare_digest(expected, actual)


def _decimal(value: float) -> str:
    if not value >= 0:
        raise ValueError("privacy loss is a non-negative number")
    return str(Decimal(f"{value:.6g}"))


def parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; use UTC (Z)")
    return parsed.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True
