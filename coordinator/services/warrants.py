"""Warrants and consents: drafted by police (or the DPO, for consents), signed by a
judge, countersigned by the DPO for face searches, registered in the audit log, revocable.

The signed warrant holds only salted commitments: to each target and, for a face search, to the
SHA-256 of each reference image. The draft keeps the plain targets and images for the people asked
to sign it (they sign exactly what will be searched) and forgets them once it is registered or
declined; the analyst supplies them again with each query. A signer may decline, with a reason.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from sqlalchemy import select

from audit.errors import AuditError
from audit.records import Action, Event, Scope, rfc3339, under
from audit.records import Window as LogWindow
from contract.queries import SignedRevocation
from contract.tasks import REVOCATION_TASK
from contract.warrants import (
    Basis,
    Kind,
    Refusal,
    SignedWarrant,
    Warrant,
    WarrantRefused,
    commit_case,
    commit_reference,
    commit_target,
    digest,
    key_id,
    new_salt,
)
from contract.warrants import Signature as WarrantSignature
from coordinator.auth import Principal
from coordinator.db import Node, User
from coordinator.db import Warrant as WarrantRow
from coordinator.errors import DispatchError, Problem, WitnessQuorumError, invalid, not_found
from coordinator.log_receipts import Witnessed, witnessed
from coordinator.node_log_heads import held_size as known_size
from coordinator.roles import Role
from coordinator.service import Coordinator
from coordinator.services import pins
from coordinator.services.requests import Decline, Draft, NewSignature
from coordinator.targets import validate_references, validate_targets
from privacy.signing import VerifyKey


def refuse(svc: Coordinator, who: Principal, row: WarrantRow | None, refusal: WarrantRefused,
           status: int = 403) -> Problem:
    """Log a refusal, then return the problem to raise."""
    basis = under(row.basis, row.warrant_id) if row is not None else under("none", None)
    svc.log(Event(actor=who.actor, action=Action.WARRANT_REFUSED, outcome=refusal.reason.value,
                  **basis, details={"user": who.username, "reason": str(refusal)}))
    return Problem(status, "Refused", str(refusal), refusal.reason.value)


def witnessed_checkpoint(svc: Coordinator) -> Witnessed:
    """The newest checkpoint with the witnesses' quorum (nodes believe nothing less); a 503
    problem when the quorum does not answer."""
    try:
        return witnessed(svc)
    except (WitnessQuorumError, AuditError) as exc:
        raise Problem(503, "Witnesses unavailable", f"{exc}. Nothing was sent and no use of "
                      "the warrant was spent; try again when the witnesses answer",
                      Refusal.UNWITNESSED.value) from None


def signed_of(row: WarrantRow) -> SignedWarrant:
    return SignedWarrant.model_validate(row.document)


def view(row: WarrantRow, plain: bool = False) -> dict[str, Any]:
    """A warrant for the people who may read it; ``plain`` adds what a draft holds for its
    signers (the targets in plain and the face reference images), while it is a draft."""
    signed = signed_of(row)
    shown = {"warrant_id": row.warrant_id, "basis": row.basis, "kind": row.kind,
             "status": row.status, "uses": row.uses, "max_uses": signed.warrant.max_uses,
             "case_number": row.case_number, "justification": row.justification,
             "requested_by": row.requested_by, "registered_index": row.registered_index,
             "document": row.document,
             "payload": base64.b64encode(signed.warrant.payload()).decode()}
    if plain:
        shown["for_signers"] = row.for_signers
    return shown


def draft(svc: Coordinator, who: Principal, body: Draft, basis: Basis) -> dict[str, Any]:
    """Keep a draft (logged after it is stored: nothing is usable yet); its view."""
    if basis is Basis.CONSENT and body.kind is not Kind.FACE_WATCHLIST:
        raise invalid("a consent is a legal basis for face searches only")
    targets = validate_targets(body.kind, body.targets, svc.settings.max_targets)
    if body.kind is not Kind.FACE_WATCHLIST and body.references:
        raise invalid("reference images belong to face searches only", "unexpected_reference")
    images = (validate_references(targets, body.references)
              if body.kind is Kind.FACE_WATCHLIST else None)
    salt = new_salt()
    raw_salt = base64.b64decode(salt)
    warrant_id = body.warrant_id or f"w-{svc.clock():%Y%m%d}-{uuid.uuid4().hex[:8]}"
    try:
        warrant = Warrant(
            warrant_id=warrant_id, basis=basis, kind=body.kind, purpose_code=body.purpose_code,
            sites=tuple(sorted(set(body.sites))), cameras=tuple(sorted(set(body.cameras))),
            window=body.window, not_before=body.not_before, expires_at=body.expires_at,
            max_uses=body.max_uses, target_salt=salt,
            targets=tuple(sorted({commit_target(raw_salt, t) for t in targets})),
            requested_by=svc.keys.pseudonym(who.username),
            case_commitment=commit_case(raw_salt, {"case_number": body.case_number,
                                                   "justification": body.justification}),
            references=None if images is None else tuple(sorted(
                commit_reference(raw_salt, t, hashlib.sha256(png).hexdigest())
                for t, png in images.items())))
    except ValueError as exc:
        raise invalid(str(exc).splitlines()[-1].strip()) from None
    with svc.session() as session:
        if session.get(WarrantRow, warrant_id) is not None:
            raise Problem(409, "Conflict", f"{warrant_id} exists", "exists")
        session.add(WarrantRow(
            warrant_id=warrant_id, basis=basis.value, kind=body.kind.value, status="draft",
            document=SignedWarrant(warrant=warrant).model_dump(mode="json"),
            for_signers={"targets": targets,
                         "references": {t: base64.b64encode(png).decode()
                                        for t, png in (images or {}).items()}},
            case_number=body.case_number, justification=body.justification,
            requested_by=who.username, uses=0, created_at=svc.clock()))
    svc.log(Event(actor=who.actor, action=Action.WARRANT_DRAFTED,
                  outcome="drafted", **under(basis, warrant_id),
                  purpose_code=body.purpose_code, scope=_scope(warrant),
                  details={"user": who.username, "case_number": body.case_number,
                           "targets": len(targets)}))
    with svc.session() as session:
        return view(session.get_one(WarrantRow, warrant_id))


def _scope(warrant: Warrant) -> Scope:
    return Scope(sites=warrant.sites, cameras=warrant.cameras,
                 window=LogWindow(start=rfc3339(warrant.window.start),
                                  end=rfc3339(warrant.window.end)))


def visible_to(row: WarrantRow | None, who: Principal, warrant_id: str) -> WarrantRow:
    """The warrant, if this person may see it (police: their own); else 404 (not 403: its
    existence is not disclosed)."""
    if row is None or (who.role == Role.POLICE and row.requested_by != who.username):
        raise not_found(f"warrant {warrant_id}")
    return row


def listed(svc: Coordinator, who: Principal, status: str | None) -> list[dict[str, Any]]:
    """Warrants and consents, oldest first (police see their own)."""
    with svc.session() as session:
        query = select(WarrantRow).order_by(WarrantRow.created_at)
        if status:
            query = query.where(WarrantRow.status == status)
        if who.role == Role.POLICE:
            query = query.where(WarrantRow.requested_by == who.username)
        return [view(r) for r in session.scalars(query.limit(500))]


def shown(svc: Coordinator, who: Principal, warrant_id: str) -> dict[str, Any]:
    """One warrant, with the payload to sign (and, while a draft, what its signers see)."""
    with svc.session() as session:
        return view(visible_to(session.get(WarrantRow, warrant_id), who, warrant_id), plain=True)


def receipt(svc: Coordinator, who: Principal, warrant_id: str, node_id: str | None,
            held_size: int | None) -> dict[str, Any]:
    """A registered warrant with what a node needs to believe it: the receipt of its entry
    under a checkpoint the witnesses' quorum cosigned, the salt opening its text commitment,
    and, for ``node_id``, the consistency proof from the log size the node holds."""
    with svc.session() as session:
        row = visible_to(session.get(WarrantRow, warrant_id), who, warrant_id)
        node = session.get(Node, node_id) if node_id is not None else None
    if row.status != "registered" or row.registered_index is None:
        raise Problem(409, "Conflict", f"{warrant_id} is {row.status}, not registered",
                      row.status)
    if node_id is not None and node is None:
        raise not_found(f"node {node_id}")
    index = int(row.registered_index)
    checkpoint = witnessed_checkpoint(svc)
    held = held_size if held_size is not None else (
        known_size(svc, node.node_id) if node else None)
    consistency = checkpoint.consistency(svc, held or 0)
    return {"warrant_id": warrant_id, "warrant": row.document,
            "receipt": checkpoint.receipt(svc, index),
            "opening": base64.b64encode(svc.audit.opening(index, "warrant_sha256")).decode(),
            "log_consistency": consistency.model_dump(mode="json") if consistency else None}


def add_signature(svc: Coordinator, who: Principal, warrant_id: str, body: NewSignature
                  ) -> dict[str, Any]:
    """Add a signature that verifies with the signer's registered key (the caller has checked
    that ``who`` may sign as ``body.role``); the last one needed registers the warrant."""
    with svc.session() as session:
        row = visible_to(session.get(WarrantRow, warrant_id), who, warrant_id)
        user = session.get(User, who.username)
        signer_key = user.signing_key if user else None
    if row.status != "draft":
        raise Problem(409, "Conflict", f"{warrant_id} is {row.status}, not a draft", row.status)
    signed = signed_of(row)
    if body.role == "judge" and signed.warrant.basis is Basis.CONSENT:
        raise invalid("a consent is signed by the DPO, not a judge")
    key = VerifyKey.parse(signer_key) if signer_key else None
    try:
        raw = base64.b64decode(body.signature, validate=True)
    except ValueError:
        raise invalid("signature must be base64") from None
    if key is None or not key.is_valid(signed.warrant.payload(), raw):
        raise refuse(svc, who, row, WarrantRefused(
            Refusal.UNKNOWN_SIGNER, "the signature does not verify with your registered key"))
    signature = WarrantSignature(key_id=key_id(key), signature=body.signature)
    signed = signed.model_copy(update={body.role: signature})
    missing = pins.lacking(svc, signed, _target_nodes(svc, signed.warrant))
    if missing:  # nodes at its sites would refuse it: not signed here either
        raise refuse(svc, who, row, WarrantRefused(
            Refusal.UNKNOWN_SIGNER, f"a key that signed {warrant_id} is "
            f"{pins.describe_lacking(missing)}"), 409)
    with svc.session() as session:
        session.get_one(WarrantRow, warrant_id).document = signed.model_dump(mode="json")
    svc.log(Event(actor=who.actor, action=Action.WARRANT_SIGNED,
                  **under(signed.warrant.basis, warrant_id),
                  outcome=f"signed_by_{body.role}", purpose_code=signed.warrant.purpose_code,
                  details={"user": who.username}))
    if _complete(signed):
        _register(svc, who, warrant_id, signed)
    with svc.session() as session:
        return view(session.get_one(WarrantRow, warrant_id))


def asks(signed: SignedWarrant, role: str) -> bool:
    """Whether this draft still waits for ``role``'s signature: a judge's for a warrant, the
    DPO's for a consent or a face search."""
    warrant = signed.warrant
    if role == "judge":
        return warrant.basis is Basis.WARRANT and signed.judge is None
    return signed.dpo is None and (warrant.basis is Basis.CONSENT
                                   or warrant.kind is Kind.FACE_WATCHLIST)


def decline(svc: Coordinator, who: Principal, warrant_id: str, body: Decline) -> dict[str, Any]:
    """Log a signer's refusal with its reason, then close the draft and forget its plain
    targets and images (the caller has checked that ``who`` may sign as ``body.role``)."""
    with svc.session() as session:
        row = visible_to(session.get(WarrantRow, warrant_id), who, warrant_id)
    if row.status != "draft":
        raise Problem(409, "Conflict", f"{warrant_id} is {row.status}, not a draft", row.status)
    signed = signed_of(row)
    if not asks(signed, body.role):
        raise invalid(f"{warrant_id} does not wait for the {body.role}'s signature", "not_asked")
    svc.log(Event(actor=who.actor, action=Action.WARRANT_DECLINED,
                  **under(signed.warrant.basis, warrant_id),
                  purpose_code=signed.warrant.purpose_code, scope=_scope(signed.warrant),
                  outcome=f"declined_by_{body.role}",
                  details={"user": who.username, "reason": body.reason}))
    with svc.session() as session:
        row = session.get_one(WarrantRow, warrant_id)
        row.status, row.for_signers = "declined", None
    with svc.session() as session:
        return view(session.get_one(WarrantRow, warrant_id))


def _target_nodes(svc: Coordinator, warrant: Warrant) -> list[str]:
    with svc.session() as session:
        return list(session.scalars(select(Node.node_id).where(
            Node.active, Node.site_id.in_(warrant.sites))))


def _complete(signed: SignedWarrant) -> bool:
    if signed.warrant.basis is Basis.CONSENT:
        return signed.dpo is not None
    return signed.judge is not None and (
        signed.warrant.kind is not Kind.FACE_WATCHLIST or signed.dpo is not None)


def _register(svc: Coordinator, who: Principal, warrant_id: str, signed: SignedWarrant) -> None:
    """Log the signed warrant (its digest committed in the entry), then make it usable."""
    warrant = signed.warrant
    with svc.session() as session:
        row = session.get_one(WarrantRow, warrant_id)
        case = {"case_number": row.case_number, "justification": row.justification}
    index = svc.log(Event(
        actor=who.actor, action=Action.WARRANT_REGISTERED, **under(warrant.basis, warrant_id),
        purpose_code=warrant.purpose_code, scope=_scope(warrant), outcome="registered",
        details={"warrant_sha256": digest(signed), "case": case}))
    with svc.session() as session:
        row = session.get_one(WarrantRow, warrant_id)
        row.status, row.registered_index, row.for_signers = "registered", index, None


def revoke(svc: Coordinator, who: Principal, warrant_id: str, body: SignedRevocation
           ) -> dict[str, Any]:
    """Check the signed revocation, log it, revoke here, then tell each node at its sites."""
    with svc.session() as session:
        row = visible_to(session.get(WarrantRow, warrant_id), who, warrant_id)
        user = session.get(User, who.username)
        signer_key = user.signing_key if user else None
        nodes = session.scalars(select(Node).where(Node.active)).all()
    if body.revocation.warrant_id != warrant_id:
        raise invalid("the revocation names another warrant")
    key = VerifyKey.parse(signer_key) if signer_key else None
    if key is None or body.key_id != key_id(key) or not body.revocation.signed_by(
            key, body.signature):
        raise refuse(svc, who, row, WarrantRefused(
            Refusal.UNKNOWN_SIGNER, "the revocation is not signed with your registered key"))
    if row.status == "revoked":
        raise Problem(409, "Conflict", f"{warrant_id} is already revoked", "revoked")
    signed = signed_of(row)
    svc.log(Event(actor=who.actor, action=Action.WARRANT_REVOKED,
                  **under(signed.warrant.basis, warrant_id),
                  outcome="revoked", details={"user": who.username,
                                              "reason": body.revocation.reason}))
    with svc.session() as session:
        session.get_one(WarrantRow, warrant_id).status = "revoked"
    sites = set(signed.warrant.sites)
    told, not_told = [], []
    for node in nodes:
        if node.site_id in sites:
            try:
                svc.dispatcher.send(REVOCATION_TASK, body.model_dump(mode="json"),
                                    node.node_id, f"revoke-{warrant_id}-{node.node_id}")
                told.append(node.node_id)
            except DispatchError:  # revoked here regardless; the judge can resend it
                not_told.append(node.node_id)
    return {"warrant_id": warrant_id, "status": "revoked", "nodes_told": told,
            "nodes_not_told": not_told}
