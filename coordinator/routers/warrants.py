"""``/warrants`` and ``/consents``: drafted by police (or the DPO, for consents), signed by a
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
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from audit.prove import make_receipt
from audit.records import Action, Event, Scope, rfc3339, under
from audit.records import Window as LogWindow
from contract.queries import REVOCATION_TASK, SignedRevocation
from contract.warrants import (
    Basis,
    Kind,
    Refusal,
    SignedWarrant,
    Warrant,
    WarrantRefused,
    Window,
    commit_case,
    commit_reference,
    commit_target,
    digest,
    key_id,
    new_salt,
)
from contract.warrants import Signature as WarrantSignature
from coordinator import pins
from coordinator.auth import Principal, deny, require, service
from coordinator.db import Node, User
from coordinator.db import Warrant as WarrantRow
from coordinator.dispatch import DispatchError
from coordinator.problems import Problem, invalid, not_found
from coordinator.roles import Permission, Role, allows
from coordinator.service import Coordinator
from coordinator.targets import validate_references, validate_targets
from privacy.signing import VerifyKey

router = APIRouter(tags=["warrants"])
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"


class Draft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warrant_id: str | None = Field(default=None, pattern=_NAME)
    kind: Kind
    purpose_code: str = Field(pattern=_NAME)
    sites: list[str] = Field(min_length=1, max_length=256)
    cameras: list[str] = Field(min_length=1, max_length=1024)
    window: Window
    not_before: AwareDatetime
    expires_at: AwareDatetime
    max_uses: int = Field(ge=1, le=1000)
    targets: list[str] = Field(min_length=1)
    case_number: str = Field(min_length=1, max_length=128)
    justification: str = Field(min_length=1, max_length=20_000,
                               description="for a consent: who consented, for whom, and why")
    references: dict[str, str] | None = Field(
        default=None, description="face searches: a base64 JPEG or PNG per target id, kept as "
        "its plain PNG (what OpenCV decodes); the warrant commits to each plain PNG's SHA-256, "
        "and only these images can be searched")


class NewSignature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["judge", "dpo"]
    signature: str = Field(max_length=200, description="base64 Ed25519 over the payload")


class Decline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["judge", "dpo"]
    reason: str = Field(min_length=3, max_length=2000,
                        description="why the signer will not sign; kept in the audit details")


def refuse(svc: Coordinator, who: Principal, row: WarrantRow | None, refusal: WarrantRefused,
           status: int = 403) -> Problem:
    """Log a refusal, then return the problem to raise."""
    basis = under(row.basis, row.warrant_id) if row is not None else under("none", None)
    svc.log(Event(actor=who.actor, action=Action.WARRANT_REFUSED, outcome=refusal.reason.value,
                  **basis, details={"user": who.username, "reason": str(refusal)}))
    return Problem(status, "Refused", str(refusal), refusal.reason.value)


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


def _draft(svc: Coordinator, body: Draft, who: Principal, basis: Basis) -> dict[str, Any]:
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


@router.post("/warrants", status_code=201, summary="Draft a warrant (police)")
def draft_warrant(body: Draft, who: Principal = Depends(require(Permission.WARRANT_DRAFT)),
                  svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return _draft(svc, body, who, Basis.WARRANT)


@router.post("/consents", status_code=201,
             summary="Record a documented consent for a face search (DPO)")
def draft_consent(body: Draft, who: Principal = Depends(require(Permission.CONSENT_DRAFT)),
                  svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return _draft(svc, body, who, Basis.CONSENT)


def visible_to(row: WarrantRow | None, who: Principal, warrant_id: str) -> WarrantRow:
    """The warrant, if this person may see it (police: their own); else 404 (not 403: its
    existence is not disclosed)."""
    if row is None or (who.role == Role.POLICE and row.requested_by != who.username):
        raise not_found(f"warrant {warrant_id}")
    return row


@router.get("/warrants", summary="Warrants and consents (police see their own)")
def list_warrants(status: str | None = None,
                  who: Principal = Depends(require(Permission.WARRANT_READ)),
                  svc: Coordinator = Depends(service)) -> list[dict[str, Any]]:
    with svc.session() as session:
        query = select(WarrantRow).order_by(WarrantRow.created_at)
        if status:
            query = query.where(WarrantRow.status == status)
        if who.role == Role.POLICE:
            query = query.where(WarrantRow.requested_by == who.username)
        return [view(r) for r in session.scalars(query.limit(500))]


@router.get("/warrants/{warrant_id}", summary="One warrant, with the payload to sign")
def get_warrant(warrant_id: str, who: Principal = Depends(require(Permission.WARRANT_READ)),
                svc: Coordinator = Depends(service)) -> dict[str, Any]:
    with svc.session() as session:
        return view(visible_to(session.get(WarrantRow, warrant_id), who, warrant_id), plain=True)


@router.get("/warrants/{warrant_id}/receipt",
            summary="A registered warrant with its audit-log receipt, to present at a node")
def warrant_receipt(warrant_id: str, node_id: str | None = Query(None, max_length=128),
                    held_size: int | None = Query(None, ge=1, le=2**62, description="the log "
                                                  "size the node says it holds (its refusal "
                                                  "names it), instead of the last reported"),
                    who: Principal = Depends(require(Permission.WARRANT_READ)),
                    svc: Coordinator = Depends(service)) -> dict[str, Any]:
    """What an officer carries to a node for an evidence export (``safecity vault export``):
    the signed warrant, the receipt of its registration in the audit log (entry, inclusion
    proof, and a checkpoint the witnesses' quorum cosigned) and the salt that opens the entry's
    commitment to its text, the same three a query carries; with ``node_id``, the consistency
    proof from the log size that node last reported holding (or from ``held_size``). The node
    checks all of it."""
    from coordinator.node_log_heads import consistency_for
    from coordinator.node_log_heads import held_size as known_size
    from coordinator.routers.queries import witnessed_checkpoint

    with svc.session() as session:
        row = visible_to(session.get(WarrantRow, warrant_id), who, warrant_id)
        node = session.get(Node, node_id) if node_id is not None else None
    if row.status != "registered" or row.registered_index is None:
        raise Problem(409, "Conflict", f"{warrant_id} is {row.status}, not registered",
                      row.status)
    if node_id is not None and node is None:
        raise not_found(f"node {node_id}")
    index = int(row.registered_index)
    witnessed, size = witnessed_checkpoint(svc)
    held = held_size if held_size is not None else (
        known_size(svc, node.node_id) if node else None)
    consistency = consistency_for(svc, held or 0, size)
    return {"warrant_id": warrant_id, "warrant": row.document,
            "receipt": make_receipt(svc.audit, index, witnessed).to_json(),
            "opening": base64.b64encode(svc.audit.opening(index, "warrant_sha256")).decode(),
            "log_consistency": consistency.model_dump(mode="json") if consistency else None}


@router.post("/warrants/{warrant_id}/signatures",
             summary="Add the judge's signature or the DPO's countersignature")
def add_signature(warrant_id: str, body: NewSignature, request: Request,
                  who: Principal = Depends(require(Permission.WARRANT_READ)),
                  svc: Coordinator = Depends(service)) -> dict[str, Any]:
    _may_sign_as(svc, request, who, body.role)
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


def _may_sign_as(svc: Coordinator, request: Request, who: Principal, role: str) -> None:
    """Signing, or declining to sign, as ``role`` needs that role's permission (a denial is
    an audit entry)."""
    needed = Permission.WARRANT_SIGN if role == "judge" else Permission.WARRANT_COUNTERSIGN
    if not allows(who.role, needed):
        raise deny(svc, request, who.actor, 403, "forbidden",
                   f"the {who.role} role may not {needed.value}",
                   {"permission": needed.value, "user": who.username})


def asks(signed: SignedWarrant, role: str) -> bool:
    """Whether this draft still waits for ``role``'s signature: a judge's for a warrant, the
    DPO's for a consent or a face search."""
    warrant = signed.warrant
    if role == "judge":
        return warrant.basis is Basis.WARRANT and signed.judge is None
    return signed.dpo is None and (warrant.basis is Basis.CONSENT
                                   or warrant.kind is Kind.FACE_WATCHLIST)


@router.post("/warrants/{warrant_id}/decline",
             summary="Decline to sign a draft, with a reason (judge, or the DPO)")
def decline(warrant_id: str, body: Decline, request: Request,
            who: Principal = Depends(require(Permission.WARRANT_READ)),
            svc: Coordinator = Depends(service)) -> dict[str, Any]:
    """A signer's refusal is a decision, logged with its reason (the reason in the DPO-only
    details) and counted in the transparency report as ``warrant_declined``; the draft can no
    longer be signed, and its plain targets and images are forgotten."""
    _may_sign_as(svc, request, who, body.role)
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


@router.post("/warrants/{warrant_id}/revocation",
             summary="Revoke (judge, or DPO for a consent) with a signed revocation")
def revoke(warrant_id: str, body: SignedRevocation,
           who: Principal = Depends(require(Permission.WARRANT_REVOKE)),
           svc: Coordinator = Depends(service)) -> dict[str, Any]:
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
