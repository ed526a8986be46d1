"""``/pins``: changing the judge, DPO and witness keys the nodes pin.

An admin proposes a change; pinned judges and DPOs sign its payload with their keys (``safecity
warrant sign-pins``); once a quorum has signed, the admin sends it: it is logged, then sent to
every node, and each node's signed acknowledgement is recorded (coordinator/services/pins.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path

from coordinator.auth import Principal, require, service
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services import pins
from coordinator.services.requests import PinSignatureBody, Proposal

router = APIRouter(prefix="/pins", tags=["pins"])
Sequence = Path(ge=0, le=2**31 - 1, description="the update's sequence number")


@router.post("", status_code=201, summary="Propose a change of the pinned keys (admin)")
def propose(body: Proposal, who: Principal = Depends(require(Permission.PINS_PROPOSE)),
            svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return pins.view(svc, pins.propose(svc, who.actor, who.username, body.changes,
                                       body.reason))


@router.get("", summary="The pinned keys and their changes, with each node's acknowledgement")
def list_updates(_: Principal = Depends(require(Permission.PINS_READ)),
                 svc: Coordinator = Depends(service)) -> list[dict[str, Any]]:
    return pins.listed(svc)


@router.get("/{sequence}", summary="One change, with the payload to sign")
def get_update(sequence: int = Sequence, _: Principal = Depends(require(Permission.PINS_READ)),
               svc: Coordinator = Depends(service)) -> dict[str, Any]:
    pins.collect_acks(svc)
    return pins.view(svc, pins.one(svc, sequence))


@router.post("/{sequence}/signatures", summary="Sign a change (a pinned judge or DPO)")
def sign(body: PinSignatureBody, sequence: int = Sequence,
         who: Principal = Depends(require(Permission.PINS_SIGN)),
         svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return pins.view(svc, pins.add_signature(svc, who.actor, who.username, sequence,
                                             body.signature))


@router.post("/{sequence}/dispatch",
             summary="Log a change signed by the quorum and send it to every node (admin)")
def dispatch(sequence: int = Sequence, who: Principal = Depends(require(Permission.PINS_PROPOSE)),
             svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return pins.view(svc, pins.dispatch(svc, who.actor, who.username, sequence))
