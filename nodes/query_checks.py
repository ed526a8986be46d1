"""Everything a node checks before it searches anything (pure logic: the caller supplies the
time, the pinned keys and the ledger's answers).

A coordinator that skipped its own checks, or a broker that was tampered with, gets a refusal
with a reason code; the order below puts the cheapest and most fundamental checks first.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from audit.bundle import Receipt
from audit.records import Action, opens
from audit.verify import verify_receipt
from nodes.enrolment import Enrolment
from privacy.canonical import canonical_json
from privacy.errors import SafecityError
from privacy.legal_basis import (
    Refusal,
    SignedWarrant,
    Warrant,
    WarrantRefused,
    Window,
    check_scope,
    digest,
    key_id,
    verify,
)
from privacy.queries import SignedQuery, SignedRevocation, targets_info
from privacy.sealing import RecipientKey, open_sealed
from privacy.signing import VerifyKey

SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class Checked:
    warrant: Warrant
    targets: list[str]
    window: Window
    references: dict[str, bytes]  # face reference images by target, for face searches


def request_sha256(query: SignedQuery) -> str:
    return hashlib.sha256(query.request.payload()).hexdigest()


class _Request(Protocol):
    node_id: str
    site: str
    issued_at: datetime

    def signed_by(self, key: VerifyKey, signature: str) -> bool: ...


class Addressed(Protocol):
    """A signed request from the coordinator to one node (a query, an aggregate question)."""

    @property
    def request(self) -> _Request: ...

    @property
    def signature(self) -> str: ...


def check_message(query: Addressed, enrolment: Enrolment, now: datetime,
                  max_age: timedelta) -> None:
    """The coordinator's signature, the addressee and the message's age."""
    request = query.request
    if not request.signed_by(enrolment.coordinator(), query.signature):
        raise WarrantRefused(Refusal.BAD_MESSAGE,
                             "the query is not signed by the coordinator key pinned at enrolment")
    if request.node_id != enrolment.node_id or request.site != enrolment.site_id:
        raise WarrantRefused(Refusal.BAD_MESSAGE, f"the query is addressed to {request.node_id} "
                             f"at {request.site}, not to this node")
    if request.issued_at > now + SKEW:
        raise WarrantRefused(Refusal.BAD_MESSAGE, "the query is dated in the future")
    if now - request.issued_at > max_age:
        raise WarrantRefused(Refusal.REPLAYED, f"the query was issued at "
                             f"{request.issued_at.isoformat()}, longer ago than {max_age}")


class _Registered(Protocol):
    @property
    def warrant(self) -> SignedWarrant: ...

    @property
    def warrant_receipt(self) -> dict[str, Any]: ...

    @property
    def warrant_opening(self) -> str: ...


class Presented(Protocol):
    """Anything that acts under a warrant at this node (a query, an evidence export): the signed
    warrant, its audit-log receipt and the salt that opens the entry's commitment."""

    @property
    def request(self) -> _Registered: ...


def check_logged(query: Presented, enrolment: Enrolment) -> None:
    """The warrant is registered in the coordinator's audit log: its receipt verifies against the
    pinned log key and the entry commits to exactly this signed warrant."""
    request = query.request
    try:
        receipt = Receipt.from_json(request.warrant_receipt)
        record, _ = verify_receipt(receipt, enrolment.log())
        salt = base64.b64decode(request.warrant_opening, validate=True)
    except (SafecityError, ValueError) as exc:
        raise WarrantRefused(Refusal.NOT_IN_LOG, f"no valid audit-log receipt ({exc})") from None
    warrant_id = request.warrant.warrant.warrant_id
    if record.action is not Action.WARRANT_REGISTERED or record.warrant_id != warrant_id:
        raise WarrantRefused(Refusal.NOT_IN_LOG,
                             f"the receipt's entry does not register warrant {warrant_id}")
    if not opens(record, "warrant_sha256", salt, canonical_json(digest(request.warrant))):
        raise WarrantRefused(Refusal.NOT_IN_LOG,
                             "the logged entry commits to a different warrant text")


def check_warrant(presented: Presented, enrolment: Enrolment, revoked: tuple[str, str] | None,
                  now: datetime) -> Warrant:
    """What every use of a warrant at this node passes before its scope is looked at: pinned
    signers, validity at ``now``, the node's own record of revocation, inclusion in the log."""
    warrant = verify(presented.request.warrant, enrolment.judges(), enrolment.dpos(), now, SKEW)
    if revoked is not None:
        raise WarrantRefused(Refusal.REVOKED, f"{warrant.warrant_id} was revoked at {revoked[0]} "
                             f"({revoked[1]})")
    check_logged(presented, enrolment)
    return warrant


def open_targets(query: SignedQuery, key: RecipientKey) -> tuple[list[str], dict[str, bytes]]:
    """The sealed targets and reference images; only this node's key opens them."""
    request = query.request
    try:
        blob = base64.b64decode(request.sealed_targets, validate=True)
        sealed = json.loads(open_sealed(key, blob, targets_info(request.query_id,
                                                                 request.node_id)))
        targets, references = sealed["targets"], sealed["references"]
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ValueError("the targets are not a list of strings")
        if not isinstance(references, dict) or not set(references) <= set(targets):
            raise ValueError("reference images must be keyed by target")
        images = {t: base64.b64decode(v, validate=True) for t, v in references.items()}
    except (SafecityError, ValueError, KeyError, TypeError) as exc:
        raise WarrantRefused(Refusal.BAD_MESSAGE, f"the targets do not open ({exc})") from None
    return targets, images


def check_query(query: SignedQuery, enrolment: Enrolment, sealing: RecipientKey,
                revoked: tuple[str, str] | None, now: datetime) -> Checked:
    """Signatures, validity, revocation, log inclusion, then scope. Raise WarrantRefused."""
    request = query.request
    warrant = check_warrant(query, enrolment, revoked, now)
    targets, references = open_targets(query, sealing)
    check_scope(warrant, request.kind, request.site, list(request.cameras), request.window,
                targets)
    return Checked(warrant, targets, request.window, references)


def check_revocation(revocation: SignedRevocation, enrolment: Enrolment) -> VerifyKey:
    """A revocation counts only when a pinned judge or DPO key signed it."""
    keys = {key_id(k): k for k in [*enrolment.judges(), *enrolment.dpos()]}
    key = keys.get(revocation.key_id)
    if key is None or not revocation.revocation.signed_by(key, revocation.signature):
        raise WarrantRefused(Refusal.UNKNOWN_SIGNER,
                             "the revocation is not signed by a pinned judge or DPO key")
    return key
