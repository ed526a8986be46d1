"""Warrants: the legal basis a node checks itself before it acts on any query.

A judge signs a warrant's canonical JSON with Ed25519; a face search also needs the DPO's
countersignature. Targets (plates, reference ids) appear in the warrant only as salted SHA-256
commitments, so the warrant can be logged and shown without revealing whom it is about; the query
carries the targets, and the node checks each against the commitments. A face warrant also
commits, per target, to the SHA-256 of its reference image: the signers authorise these exact
photos, and a query that brings another photo under the same id is refused.

Pure logic: no clock, no storage. The node supplies the time, the keys it pinned at enrolment and
its own record of uses and revocations; every refusal names a reason code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from kernel.canonical import canonical_json
from kernel.errors import SafecityError
from privacy.signing import SigningKey, VerifyKey

DOMAIN = b"safecity warrant/v1\n"
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"


class Refusal(StrEnum):
    UNSIGNED = "unsigned"
    UNKNOWN_SIGNER = "unknown_signer"
    BAD_SIGNATURE = "bad_signature"
    MISSING_COUNTERSIGNATURE = "missing_dpo_countersignature"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    OUT_OF_SCOPE_SITE = "out_of_scope_site"
    OUT_OF_SCOPE_CAMERA = "out_of_scope_camera"
    OUT_OF_SCOPE_TIME = "out_of_scope_time"
    OUT_OF_SCOPE_TARGET = "out_of_scope_target"
    TARGET_NOT_IN_WARRANT = "target_not_in_warrant"  # a face reference the signers did not see
    WRONG_KIND = "wrong_kind"
    TOO_MANY_TARGETS = "too_many_targets"
    REVOKED = "revoked"
    USED_UP = "used_up"
    REPLAYED = "replayed"
    NOT_IN_LOG = "not_in_log"
    UNWITNESSED = "unwitnessed"  # the checkpoint lacks the pinned witnesses' quorum
    LOG_FORK = "log_fork"  # inconsistent with a smaller checkpoint this node accepted before
    LOG_ROLLBACK = "log_rollback"  # not a prefix of a larger checkpoint this node accepted
    LOG_CONFLICT = "log_conflict"  # the proof starts from a size this node does not hold
    BAD_MESSAGE = "bad_message"
    BAD_REFERENCE = "bad_reference"


class WarrantRefused(SafecityError):
    def __init__(self, reason: Refusal, detail: str):
        super().__init__(f"warrant refused ({reason.value}): {detail}")
        self.reason = reason


class Kind(StrEnum):
    PLATE_WATCHLIST = "plate_watchlist"
    FACE_WATCHLIST = "face_watchlist"
    EVIDENCE_EXPORT = "evidence_export"


class Basis(StrEnum):
    """A judge's warrant, or a documented consent approved and signed by the DPO (for example
    the guardian of a missing vulnerable person asking for a face search)."""

    WARRANT = "warrant"
    CONSENT = "consent"


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self

    def covers(self, other: Window) -> bool:
        return self.start <= other.start and other.end <= self.end


class Warrant(BaseModel):
    """What the judge signs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    warrant_id: str = Field(pattern=_NAME)
    basis: Basis = Basis.WARRANT
    kind: Kind
    purpose_code: str = Field(pattern=_NAME)
    sites: tuple[str, ...] = Field(min_length=1)
    cameras: tuple[str, ...] = Field(min_length=1)
    window: Window  # the recordings or sightings the queries may look at
    not_before: AwareDatetime
    expires_at: AwareDatetime
    max_uses: int = Field(ge=1, le=10_000)
    target_salt: str  # base64 of 32 random bytes
    targets: tuple[str, ...] = Field(min_length=1, max_length=10_000)  # hex SHA-256 commitments
    requested_by: str = Field(pattern=_NAME)
    # SHA-256(target_salt || canonical case file): binds the case number, the justification (or
    # the consent document) the signer read, without publishing them.
    case_commitment: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # Face searches: per target, a salted commitment to the target id and the SHA-256 of its
    # reference image (``commit_reference``). Absent (older warrants): no image is searchable.
    references: tuple[str, ...] | None = Field(default=None, max_length=10_000)

    @model_validator(mode="after")
    def _valid(self) -> Warrant:
        if self.basis is Basis.CONSENT and self.kind is not Kind.FACE_WATCHLIST:
            raise ValueError("a consent is a legal basis for face searches only")
        if self.expires_at <= self.not_before:
            raise ValueError("a warrant must expire after it becomes valid")
        if len(base64.b64decode(self.target_salt)) != 32:
            raise ValueError("target_salt must be 32 random bytes, base64")
        if any(len(t) != 64 for t in self.targets):
            raise ValueError("targets must be hex SHA-256 commitments")
        if self.references is not None:
            if self.kind is not Kind.FACE_WATCHLIST:
                raise ValueError("reference images belong to face searches only")
            if len(self.references) != len(self.targets) or any(
                    len(r) != 64 for r in self.references):
                raise ValueError("a face warrant commits to one reference image per target")
        return self

    def payload(self) -> bytes:
        """What the signers sign. A warrant without reference commitments keeps the payload it
        had before the field existed, so signatures made then still verify."""
        body = self.model_dump(mode="json")
        if body["references"] is None:
            del body["references"]
        return DOMAIN + canonical_json(body)


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str  # hex SHA-256 of the public key, first 16 bytes
    signature: str  # base64 Ed25519


class SignedWarrant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warrant: Warrant
    judge: Signature | None = None
    dpo: Signature | None = None


def key_id(public: VerifyKey) -> str:
    return hashlib.sha256(public.raw).hexdigest()[:32]


def commit_target(salt: bytes, target: str) -> str:
    return hashlib.sha256(salt + target.encode()).hexdigest()


def commit_reference(salt: bytes, target: str, image_sha256: str) -> str:
    """Binds a face target id to the SHA-256 of the reference image the signers saw for it
    (canonical JSON after the salt: no two (id, digest) pairs share an input)."""
    return hashlib.sha256(salt + canonical_json({"reference": target,
                                                 "sha256": image_sha256})).hexdigest()


def new_salt() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def commit_case(salt: bytes, case: dict[str, str]) -> str:
    return hashlib.sha256(salt + canonical_json(case)).hexdigest()


def digest(signed: SignedWarrant) -> str:
    """Hex SHA-256 of the signed payload: what the audit log entry commits to."""
    return hashlib.sha256(signed.warrant.payload()).hexdigest()


def sign(warrant: Warrant, key: SigningKey) -> Signature:
    return Signature(key_id=key_id(key.public),
                     signature=base64.b64encode(key.sign(warrant.payload())).decode())


def _check_signature(warrant: Warrant, signature: Signature | None, pinned: list[VerifyKey],
                     who: str) -> None:
    if signature is None:
        reason = Refusal.UNSIGNED if who == "judge" else Refusal.MISSING_COUNTERSIGNATURE
        raise WarrantRefused(reason, f"no {who} signature")
    keys = {key_id(k): k for k in pinned}
    key = keys.get(signature.key_id)
    if key is None:
        raise WarrantRefused(Refusal.UNKNOWN_SIGNER,
                             f"{who} key {signature.key_id[:12]}... is not pinned on this node")
    try:
        raw = base64.b64decode(signature.signature, validate=True)
    except ValueError:
        raise WarrantRefused(Refusal.BAD_SIGNATURE, f"{who} signature is not base64") from None
    if not key.is_valid(warrant.payload(), raw):
        raise WarrantRefused(Refusal.BAD_SIGNATURE, f"{who} signature does not verify")


def verify(signed: SignedWarrant, judges: list[VerifyKey], dpos: list[VerifyKey], now: datetime,
           skew: timedelta = timedelta(minutes=2)) -> Warrant:
    """Signatures by pinned keys, then validity at ``now`` (allowing ``skew`` between clocks)."""
    warrant = signed.warrant
    if warrant.basis is Basis.CONSENT:
        if signed.dpo is None:
            raise WarrantRefused(Refusal.UNSIGNED, "the consent has no DPO signature")
        _check_signature(warrant, signed.dpo, dpos, "DPO")
    else:
        _check_signature(warrant, signed.judge, judges, "judge")
        if warrant.kind is Kind.FACE_WATCHLIST:
            _check_signature(warrant, signed.dpo, dpos, "DPO")
    if now + skew < warrant.not_before:
        raise WarrantRefused(Refusal.NOT_YET_VALID, f"valid from {warrant.not_before.isoformat()}")
    if now - skew >= warrant.expires_at:
        raise WarrantRefused(Refusal.EXPIRED, f"expired at {warrant.expires_at.isoformat()}")
    return warrant


def check_scope(warrant: Warrant, kind: Kind, site: str, cameras: list[str], window: Window,
                targets: list[str], references: dict[str, str] | None = None) -> None:
    """Raise unless a query of ``kind`` at ``site`` over ``cameras``, ``window`` and ``targets``
    lies inside the warrant; a face query's ``references`` (hex SHA-256 of each target's image)
    must be the images the warrant commits to. Comparisons are constant time."""
    if kind is not warrant.kind:
        raise WarrantRefused(Refusal.WRONG_KIND, f"warrant is for {warrant.kind.value}")
    if site not in warrant.sites:
        raise WarrantRefused(Refusal.OUT_OF_SCOPE_SITE, f"site {site} is not in the warrant")
    outside = sorted(set(cameras) - set(warrant.cameras))
    if outside or not cameras:
        raise WarrantRefused(Refusal.OUT_OF_SCOPE_CAMERA,
                             f"cameras {', '.join(outside) or '(none)'} are not in the warrant")
    if not warrant.window.covers(window):
        raise WarrantRefused(Refusal.OUT_OF_SCOPE_TIME, "the query window is outside the warrant")
    if len(targets) > len(warrant.targets):
        raise WarrantRefused(Refusal.TOO_MANY_TARGETS, "more targets than the warrant names")
    salt = base64.b64decode(warrant.target_salt)
    for target in targets:
        digest = commit_target(salt, target)
        if not _committed(digest, warrant.targets):
            raise WarrantRefused(Refusal.OUT_OF_SCOPE_TARGET, "a target is not in the warrant")
    if kind is Kind.FACE_WATCHLIST:
        _check_references(warrant, salt, targets, references or {})


def _committed(digest: str, commitments: tuple[str, ...]) -> bool:
    return any(hmac.compare_digest(digest, allowed) for allowed in commitments)


def _check_references(warrant: Warrant, salt: bytes, targets: list[str],
                      references: dict[str, str]) -> None:
    """Each face target's reference image is the one the signers authorised."""
    for target in targets:
        image = references.get(target)
        if warrant.references is None or image is None or not _committed(
                commit_reference(salt, target, image), warrant.references):
            raise WarrantRefused(Refusal.TARGET_NOT_IN_WARRANT,
                                 "a reference image is not one the warrant's signers saw")
