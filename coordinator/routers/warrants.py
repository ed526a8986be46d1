"""``/warrants`` and ``/consents``: drafted by police (or the DPO, for consents), signed by a
judge, countersigned by the DPO for face searches, registered in the audit log, revocable (the
use cases are in ``coordinator.services.warrants``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from contract.queries import SignedRevocation
from contract.warrants import Basis
from coordinator.auth import Principal, deny, require, service
from coordinator.roles import Permission, allows
from coordinator.service import Coordinator
from coordinator.services import warrants
from coordinator.services.requests import Decline, Draft, NewSignature

router = APIRouter(tags=["warrants"])


@router.post("/warrants", status_code=201, summary="Draft a warrant (police)")
def draft_warrant(body: Draft, who: Principal = Depends(require(Permission.WARRANT_DRAFT)),
                  svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return warrants.draft(svc, who, body, Basis.WARRANT)


@router.post("/consents", status_code=201,
             summary="Record a documented consent for a face search (DPO)")
def draft_consent(body: Draft, who: Principal = Depends(require(Permission.CONSENT_DRAFT)),
                  svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return warrants.draft(svc, who, body, Basis.CONSENT)


@router.get("/warrants", summary="Warrants and consents (police see their own)")
def list_warrants(status: str | None = None,
                  who: Principal = Depends(require(Permission.WARRANT_READ)),
                  svc: Coordinator = Depends(service)) -> list[dict[str, Any]]:
    return warrants.listed(svc, who, status)


@router.get("/warrants/{warrant_id}", summary="One warrant, with the payload to sign")
def get_warrant(warrant_id: str, who: Principal = Depends(require(Permission.WARRANT_READ)),
                svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return warrants.shown(svc, who, warrant_id)


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
    return warrants.receipt(svc, who, warrant_id, node_id, held_size)


@router.post("/warrants/{warrant_id}/signatures",
             summary="Add the judge's signature or the DPO's countersignature")
def add_signature(warrant_id: str, body: NewSignature, request: Request,
                  who: Principal = Depends(require(Permission.WARRANT_READ)),
                  svc: Coordinator = Depends(service)) -> dict[str, Any]:
    _may_sign_as(svc, request, who, body.role)
    return warrants.add_signature(svc, who, warrant_id, body)


@router.post("/warrants/{warrant_id}/decline",
             summary="Decline to sign a draft, with a reason (judge, or the DPO)")
def decline(warrant_id: str, body: Decline, request: Request,
            who: Principal = Depends(require(Permission.WARRANT_READ)),
            svc: Coordinator = Depends(service)) -> dict[str, Any]:
    """A signer's refusal is a decision, logged with its reason (the reason in the DPO-only
    details) and counted in the transparency report as ``warrant_declined``; the draft can no
    longer be signed, and its plain targets and images are forgotten."""
    _may_sign_as(svc, request, who, body.role)
    return warrants.decline(svc, who, warrant_id, body)


def _may_sign_as(svc: Coordinator, request: Request, who: Principal, role: str) -> None:
    """Signing, or declining to sign, as ``role`` needs that role's permission (a denial is
    an audit entry naming the request)."""
    needed = Permission.WARRANT_SIGN if role == "judge" else Permission.WARRANT_COUNTERSIGN
    if not allows(who.role, needed):
        raise deny(svc, request, who.actor, 403, "forbidden",
                   f"the {who.role} role may not {needed.value}",
                   {"permission": needed.value, "user": who.username})


@router.post("/warrants/{warrant_id}/revocation",
             summary="Revoke (judge, or DPO for a consent) with a signed revocation")
def revoke(warrant_id: str, body: SignedRevocation,
           who: Principal = Depends(require(Permission.WARRANT_REVOKE)),
           svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return warrants.revoke(svc, who, warrant_id, body)
