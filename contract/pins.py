"""Updates of the keys a node pinned at enrolment: judges, DPOs, and the audit log's witnesses.

A node trusts only the keys it pinned (nodes/enrolment.py). Adding or retiring one is itself a
signed message, so that a judge appointed after the sites enrolled can reach them without anyone
handing the coordinator the power to name judges: the change is signed by a quorum of the
authorities the node already pins (judges and DPOs, the quorum fixed at enrolment), bound to the
exact set it changes (``previous_sha256``) and to the next sequence number, so it can neither be
replayed nor applied out of order. The node checks it against its own pins, applies it whole or
not at all, and answers with a signed acknowledgement of what it holds now.

Both sides import this module (docs/architecture.md, "Layers"); the signed payload is canonical JSON
(RFC 8785 style, ``kernel.canonical``) under its own domain string, like every ``Signed``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from contract.queries import Signed
from contract.warrants import key_id
from kernel.canonical import canonical_json
from kernel.errors import SafecityError
from privacy.signing import KeyFileError, VerifyKey

# Two distinct pinned authorities, at least one judge and one DPO: no single stolen or coerced
# key, and neither the judiciary nor the data-protection office alone, can change whom a node
# trusts to sign warrants.
DEFAULT_QUORUM = 2
# Each pinned role and the Enrolment field that holds its keys. A role whose field a node's
# Enrolment lacks is refused there ("this node pins no ... keys"); add a role by adding a line.
ROLES: dict[str, str] = {"judge": "judge_keys", "dpo": "dpo_keys", "witness": "witness_keys"}
AUTHORITIES = ("judge", "dpo")  # the roles whose keys sign pin updates
Role = Literal["judge", "dpo", "witness"]
Key = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")]
Pinned = dict[str, list[str]]
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"
_SET_DOMAIN = b"safecity pinned set/v1\n"


class PinRefusal(StrEnum):
    BAD_MESSAGE = "bad_message"
    REPLAYED = "replayed"  # a sequence number the node has already passed
    OUT_OF_ORDER = "out_of_order"  # an update skipped: the node waits for the one before
    WRONG_BASE = "wrong_base"  # signed for another pinned set than the node's
    UNKNOWN_SIGNER = "unknown_signer"
    QUORUM = "quorum"  # too few pinned authorities signed
    UNUSABLE = "unusable"  # the change does not apply, or would leave a set that cannot work


class PinRefused(SafecityError):
    def __init__(self, reason: PinRefusal, detail: str):
        super().__init__(f"pin update refused ({reason.value}): {detail}")
        self.reason = reason


class PinChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    add: tuple[Key, ...] = Field(default=(), max_length=64)
    retire: tuple[Key, ...] = Field(default=(), max_length=64)

    @model_validator(mode="after")
    def _a_change(self) -> PinChange:
        if not self.add and not self.retire:
            raise ValueError(f"the {self.role} change adds and retires nothing")
        if len(set(self.add)) != len(self.add) or len(set(self.retire)) != len(self.retire):
            raise ValueError(f"the {self.role} change names a key twice")
        if set(self.add) & set(self.retire):
            raise ValueError(f"the {self.role} change adds and retires the same key")
        return self


class PinUpdate(Signed):
    """One change of a city's pinned keys, the ``sequence``-th since enrolment."""

    DOMAIN: ClassVar[bytes] = b"safecity pin update/v1\n"

    version: int = 1
    sequence: int = Field(ge=1, le=2**53 - 1)
    previous_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # ``pinned_sha256`` of the base
    changes: tuple[PinChange, ...] = Field(min_length=1, max_length=len(ROLES))
    reason: str = Field(pattern=_NAME)
    issued_at: AwareDatetime

    @model_validator(mode="after")
    def _one_change_per_role(self) -> PinUpdate:
        roles = [c.role for c in self.changes]
        if len(set(roles)) != len(roles):
            raise ValueError("one change per role")
        return self


class PinSignature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str = Field(pattern=r"^[0-9a-f]{32}$")  # contract.warrants.key_id of the signer
    signature: str = Field(max_length=200)


class SignedPinUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    update: PinUpdate
    signatures: tuple[PinSignature, ...] = Field(max_length=64)


class PinAck(Signed):
    """A node's answer to an update: the pins it holds now, whether or not it applied it."""

    DOMAIN: ClassVar[bytes] = b"safecity pin ack/v1\n"

    version: int = 1
    node_id: str = Field(pattern=_NAME)
    update_sequence: int  # the update this answers
    applied: bool
    reason: str | None = None  # a PinRefusal code when not applied
    detail: str | None = None
    sequence: int  # the node's pins now: the sequence number of the last update applied
    pinned_sha256: str  # and the digest of its pinned set
    acknowledged_at: AwareDatetime


class SignedPinAck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ack: PinAck
    signature: str


def pinned_set(keys: Mapping[str, Iterable[str]]) -> Pinned:
    """The normal form of a pinned set: roles with keys only, keys sorted."""
    return {role: sorted(set(found)) for role, found in keys.items() if found}


def pinned_sha256(keys: Mapping[str, Iterable[str]]) -> str:
    """SHA-256 of the domain-separated canonical JSON of the pinned set: what an update is
    bound to and what a node acknowledges holding."""
    return hashlib.sha256(_SET_DOMAIN + canonical_json(pinned_set(keys))).hexdigest()


def applied(pinned: Mapping[str, Iterable[str]], update: PinUpdate) -> Pinned:
    """The set after ``update``; every added key must be new and every retired key pinned."""
    result = {role: set(keys) for role, keys in pinned.items()}
    for change in update.changes:
        keys = result.setdefault(change.role, set())
        present = sorted(set(change.add) & keys)
        absent = sorted(set(change.retire) - keys)
        if present or absent:
            raise PinRefused(PinRefusal.UNUSABLE, f"the {change.role} change "
                             + ("adds a key already pinned" if present else
                                "retires a key that is not pinned"))
        keys.update(change.add)
        keys.difference_update(change.retire)
    return pinned_set(result)


def authorities(pinned: Mapping[str, Iterable[str]]) -> dict[str, tuple[VerifyKey, set[str]]]:
    """The keys allowed to sign an update, by key id, with the roles they are pinned under."""
    found: dict[str, tuple[VerifyKey, set[str]]] = {}
    for role in AUTHORITIES:
        for text in pinned.get(role, ()):
            try:
                key = VerifyKey.parse(text)
            except KeyFileError:
                continue
            found.setdefault(key_id(key), (key, set()))[1].add(role)
    return found


def check_quorum(signed: SignedPinUpdate, pinned: Mapping[str, Iterable[str]],
                 quorum: int) -> dict[str, set[str]]:
    """Every signature by a pinned judge or DPO key, and enough of them: ``quorum`` distinct
    keys, a judge and a DPO among them. Return the signers' roles by key id."""
    keys = authorities(pinned)
    signers: dict[str, set[str]] = {}
    for signature in signed.signatures:
        pinned_key = keys.get(signature.key_id)
        if pinned_key is None or not signed.update.signed_by(pinned_key[0], signature.signature):
            raise PinRefused(PinRefusal.UNKNOWN_SIGNER, f"signature {signature.key_id} is not "
                             "by a pinned judge or DPO key")
        signers[signature.key_id] = pinned_key[1]
    roles = set().union(*signers.values()) if signers else set()
    if len(signers) < quorum or not set(AUTHORITIES) <= roles:
        raise PinRefused(PinRefusal.QUORUM, f"signed by {len(signers)} pinned "
                         f"authorit{'y' if len(signers) == 1 else 'ies'} "
                         f"({', '.join(sorted(roles)) or 'none'}); the quorum is {quorum}, "
                         "a judge and a DPO among them")
    return signers


def check_usable(pinned: Mapping[str, Iterable[str]], quorum: int) -> None:
    """A set that can still sign warrants and its own next update: a judge, a DPO, and at least
    ``quorum`` distinct authority keys (else the city would lock itself out)."""
    missing = [role for role in AUTHORITIES if not pinned.get(role)]
    if missing:
        raise PinRefused(PinRefusal.UNUSABLE, f"the update would leave no {missing[0]} key")
    if len(authorities(pinned)) < quorum:
        raise PinRefused(PinRefusal.UNUSABLE, f"the update would leave fewer than {quorum} "
                         "judge and DPO keys, too few to sign the next one")


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
