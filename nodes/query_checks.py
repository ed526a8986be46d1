"""Everything a node checks before it searches anything (pure logic: the caller supplies the
time, the pinned keys and the ledger's answers).

A coordinator that skipped its own checks, or a broker that was tampered with, gets a refusal
with a reason code; the order below puts the cheapest and most fundamental checks first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from audit.bundle import Receipt
from audit.checkpoint import Checkpoint, open_checkpoint
from audit.merkle import verify_consistency
from audit.records import PublicRecord
from audit.verify import verify_receipt
from contract.queries import LogConsistency, SignedQuery, SignedRevocation, targets_info
from contract.reference_image import check_plain_png
from contract.registered_warrant import check_registered
from contract.warrants import (
    Refusal,
    SignedWarrant,
    Warrant,
    WarrantRefused,
    Window,
    check_scope,
    key_id,
    verify,
)
from kernel.errors import SafecityError, VerificationError
from nodes.enrolment import Enrolment
from nodes.witnessed_log import Held
from privacy.errors import MediaError
from privacy.sealing import RecipientKey, open_sealed
from privacy.signing import VerifyKey

SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class Checked:
    warrant: Warrant
    targets: list[str]
    window: Window
    references: dict[str, bytes]  # face reference images by target, for face searches
    checkpoint: Checkpoint  # the witnessed log checkpoint the warrant's receipt rests on


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
    check_signed(query, enrolment)
    check_addressed(query.request, enrolment)
    check_fresh(query.request, now, max_age)


def check_signed(message: Addressed, enrolment: Enrolment, what: str = "query") -> None:
    """Signed with the coordinator key pinned at enrolment."""
    if not message.request.signed_by(enrolment.coordinator(), message.signature):
        raise WarrantRefused(Refusal.BAD_MESSAGE,
                             f"the {what} is not signed by the coordinator key pinned at "
                             "enrolment")


def check_addressed(request: _Request, enrolment: Enrolment, what: str = "query") -> None:
    if request.node_id != enrolment.node_id or request.site != enrolment.site_id:
        raise WarrantRefused(Refusal.BAD_MESSAGE, f"the {what} is addressed to "
                             f"{request.node_id} at {request.site}, not to this node")


def check_fresh(request: _Request, now: datetime, max_age: timedelta,
                what: str = "query") -> None:
    """Issued no longer than ``max_age`` ago (``query_max_age_seconds``), and not ahead of this
    node's clock by more than the skew: an old message replayed is refused."""
    if request.issued_at > now + SKEW:
        raise WarrantRefused(Refusal.BAD_MESSAGE, f"the {what} is dated in the future")
    if now - request.issued_at > max_age:
        raise WarrantRefused(Refusal.REPLAYED, f"the {what} was issued at "
                             f"{request.issued_at.isoformat()}, longer ago than {max_age}")


def check_witnessed(signed_checkpoint: str, enrolment: Enrolment) -> Checkpoint:
    """The checkpoint is the pinned log's and carries valid cosignatures of at least the pinned
    quorum of witnesses (c2sp.org/tlog-cosignature): a checkpoint only the coordinator has seen
    (a private fork of the log) has none."""
    try:
        checkpoint, note = open_checkpoint(signed_checkpoint, enrolment.log())
    except SafecityError as exc:
        raise WarrantRefused(Refusal.NOT_IN_LOG, f"no valid log checkpoint ({exc})") from None
    cosigned = []
    for witness in enrolment.witnesses():
        try:
            witness.verify(note)
        except VerificationError:
            continue
        cosigned.append(witness.name)
    if len(cosigned) < enrolment.witness_quorum:
        raise WarrantRefused(Refusal.UNWITNESSED, (
            f"the log checkpoint of size {checkpoint.size} is cosigned by "
            f"{len(cosigned)} pinned witness(es) ({', '.join(cosigned) or 'none'}); this node "
            f"needs {enrolment.witness_quorum}"))
    return checkpoint


def check_consistent(checkpoint: Checkpoint, held: Held | None,
                     consistency: LogConsistency | None) -> None:
    """The checkpoint agrees with the largest one this node accepted before (RFC 9162 2.1.4)."""
    if held is None:
        return
    if checkpoint.size == held.size:
        if not hmac.compare_digest(checkpoint.root, held.root):
            raise WarrantRefused(Refusal.LOG_FORK, f"the log shows two different trees of size "
                                 f"{held.size}: a fork")
        return
    if consistency is None or consistency.held_size != held.size:
        offered = "none" if consistency is None else f"one from size {consistency.held_size}"
        raise WarrantRefused(Refusal.LOG_CONFLICT, (
            f"this node holds the log at size {held.size} and needs a consistency proof from "
            f"it; the query carries {offered}"))
    try:
        proof = [base64.b64decode(p, validate=True) for p in consistency.proof]
    except ValueError:
        raise WarrantRefused(Refusal.BAD_MESSAGE, "the consistency proof is not base64") from None
    try:
        if checkpoint.size > held.size:
            verify_consistency(held.size, checkpoint.size, proof, held.root, checkpoint.root)
        else:
            verify_consistency(checkpoint.size, held.size, proof, checkpoint.root, held.root)
    except VerificationError as exc:
        if checkpoint.size > held.size:
            raise WarrantRefused(Refusal.LOG_FORK, (
                f"the log at size {checkpoint.size} does not extend the size {held.size} this "
                f"node accepted before ({exc})")) from None
        raise WarrantRefused(Refusal.LOG_ROLLBACK, (
            f"the log at size {checkpoint.size} is not a prefix of the size {held.size} this "
            f"node accepted before ({exc})")) from None


class _Registered(Protocol):
    @property
    def warrant(self) -> SignedWarrant: ...

    @property
    def warrant_receipt(self) -> dict[str, Any]: ...

    @property
    def warrant_opening(self) -> str: ...

    @property
    def log_consistency(self) -> LogConsistency | None: ...


class Presented(Protocol):
    """Anything that acts under a warrant at this node (a query, an evidence export): the signed
    warrant, its audit-log receipt and the salt that opens the entry's commitment."""

    @property
    def request(self) -> _Registered: ...


def check_logged(query: Presented, enrolment: Enrolment, held: Held | None) -> Checkpoint:
    """The warrant is registered in the city's audit log as everyone sees it: the receipt's
    checkpoint is witnessed and consistent with what this node accepted before, the entry is
    included under it, and it commits to exactly this signed warrant. Return the checkpoint."""
    request = query.request
    try:
        salt = base64.b64decode(request.warrant_opening, validate=True)
    except ValueError as exc:
        raise WarrantRefused(Refusal.NOT_IN_LOG, f"no valid audit-log receipt ({exc})") from None
    record, checkpoint = check_receipt(request.warrant_receipt, enrolment, held,
                                       request.log_consistency)
    check_registered(record, salt, request.warrant)
    return checkpoint


def check_receipt(receipt_json: dict[str, Any], enrolment: Enrolment, held: Held | None,
                  consistency: LogConsistency | None) -> tuple[PublicRecord, Checkpoint]:
    """An entry is in the city's audit log as everyone sees it: the receipt's checkpoint is
    witnessed and consistent with what this node accepted before (``held``), and the entry is
    included under it. Return the entry and the checkpoint; what the entry must say is the
    caller's to check."""
    try:
        receipt = Receipt.from_json(receipt_json)
    except SafecityError as exc:
        raise WarrantRefused(Refusal.NOT_IN_LOG, f"no valid audit-log receipt ({exc})") from None
    checkpoint = check_witnessed(receipt.checkpoint, enrolment)
    check_consistent(checkpoint, held, consistency)
    try:
        record, _ = verify_receipt(receipt, enrolment.log())
    except SafecityError as exc:
        raise WarrantRefused(Refusal.NOT_IN_LOG, f"no valid audit-log receipt ({exc})") from None
    return record, checkpoint


def check_warrant(presented: Presented, enrolment: Enrolment, revoked: tuple[str, str] | None,
                  now: datetime, held: Held | None) -> tuple[Warrant, Checkpoint]:
    """What every use of a warrant at this node passes before its scope is looked at: pinned
    signers, validity at ``now``, the node's own record of revocation, inclusion in the log as
    the witnesses saw it (``held``: the largest checkpoint this node accepted before). Return
    the warrant and the checkpoint its receipt rests on."""
    warrant = verify(presented.request.warrant, enrolment.judges(), enrolment.dpos(), now, SKEW)
    if revoked is not None:
        raise WarrantRefused(Refusal.REVOKED, f"{warrant.warrant_id} was revoked at {revoked[0]} "
                             f"({revoked[1]})")
    checkpoint = check_logged(presented, enrolment, held)
    return warrant, checkpoint


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


def check_plain_references(references: dict[str, bytes]) -> None:
    """Every reference is a plain PNG (``contract.reference_image``), the form the coordinator
    shows the signers and commits to: no animation frame, profile or orientation a browser
    renders other than the decoder this node searches with."""
    for image in references.values():
        try:
            check_plain_png(image)
        except MediaError as exc:  # the detail names no target: ids stay out of the logs
            raise WarrantRefused(Refusal.BAD_REFERENCE,
                                 f"a reference image is refused: {exc}") from None


def check_query(query: SignedQuery, enrolment: Enrolment, sealing: RecipientKey,
                revoked: tuple[str, str] | None, now: datetime,
                held: Held | None = None) -> Checked:
    """Signatures, validity, revocation, log inclusion, then scope. Raise WarrantRefused."""
    request = query.request
    warrant, checkpoint = check_warrant(query, enrolment, revoked, now, held)
    targets, references = open_targets(query, sealing)
    check_plain_references(references)
    # the images the node will search with, not only their ids, must be the ones signed for
    digests = {t: hashlib.sha256(image).hexdigest() for t, image in references.items()}
    check_scope(warrant, request.kind, request.site, list(request.cameras), request.window,
                targets, digests)
    return Checked(warrant, targets, request.window, references, checkpoint)


def check_revocation(revocation: SignedRevocation, enrolment: Enrolment) -> VerifyKey:
    """A revocation counts only when a pinned judge or DPO key signed it."""
    keys = {key_id(k): k for k in [*enrolment.judges(), *enrolment.dpos()]}
    key = keys.get(revocation.key_id)
    if key is None or not revocation.revocation.signed_by(key, revocation.signature):
        raise WarrantRefused(Refusal.UNKNOWN_SIGNER,
                             "the revocation is not signed by a pinned judge or DPO key")
    return key
