"""``/nodes``: enrolling camera-site nodes and the document each node pins.

The enrolment document lists the keys the node will trust from then on: the coordinator's
dispatch key, its audit log key, and the judges' and DPOs' signing keys the city pins (those
registered when the first node enrolled, changed since only by signed pin updates, see
coordinator/pins.py).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from audit.records import Action, Event, LegalBasis
from contract.key_fields import Ed25519Public, SuperNodePublic, X25519Public
from contract.notices import CameraNotice
from contract.pins import DEFAULT_QUORUM
from contract.tasks import queue_name
from coordinator import pins
from coordinator.auth import Principal, require, service
from coordinator.db import Node, PinUpdateRow, User
from coordinator.problems import Problem, not_found
from coordinator.roles import Permission, Role
from coordinator.service import Coordinator, as_utc
from privacy.pki import check_ca

router = APIRouter(prefix="/nodes", tags=["nodes"])
_ID = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"


class NewNode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_id: str = Field(pattern=_ID)
    site_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    cameras: list[str] = Field(min_length=1, max_length=256)
    identity_key: Ed25519Public
    sealing_key: X25519Public
    flower_key: SuperNodePublic | None = Field(
        default=None, description="the site's Flower SuperNode key (federated learning)")
    camera_notices: list[CameraNotice] = Field(
        default=[], max_length=256, description="each camera's public notice (from `safecity "
        "node keys`), published on the transparency portal")

    @field_validator("cameras")
    @classmethod
    def _cameras(cls, value: list[str]) -> list[str]:
        if any(not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", c) for c in value):
            raise ValueError("camera ids are lower-case letters, digits, '-' and '_'")
        return sorted(set(value))

    @model_validator(mode="after")
    def _noticed_cameras(self) -> NewNode:
        unknown = sorted({n.camera for n in self.camera_notices} - set(self.cameras))
        if unknown:
            raise ValueError(f"camera_notices name cameras not enrolled: {', '.join(unknown)}")
        return self


def enrolment_document(svc: Coordinator, node: Node, pinned: PinUpdateRow | None = None
                       ) -> dict[str, Any]:
    """The document a node pins: the city's judge and DPO keys as the last pin update left
    them (coordinator/pins.py), and the quorum that must sign the next one."""
    pinned = pinned or pins.current(svc)
    return {
        "version": 2, "node_id": node.node_id, "site_id": node.site_id,
        "cameras": list(node.cameras), "queue": queue_name(node.node_id),
        "coordinator_key": svc.keys.dispatch.public.text(),
        "coordinator_sealing_key": svc.keys.sealing.public_text(),
        "log_key": svc.keys.log.verifier.vkey(),
        "judge_keys": pinned.pinned.get("judge", []),
        "dpo_keys": pinned.pinned.get("dpo", []),
        "witness_keys": pinned.pinned.get("witness", []),
        "witness_quorum": svc.settings.witness_quorum,
        "enrolled_at": as_utc(node.enrolled_at).isoformat(),
        "city_ca": _city_ca(svc),
        "pin_quorum": DEFAULT_QUORUM,
        "pins_sequence": pinned.sequence,
    }


def _city_ca(svc: Coordinator) -> str | None:
    path = svc.settings.city_ca
    if path is None:
        return None
    try:
        return check_ca(path.read_text())
    except (OSError, ValueError) as exc:
        raise Problem(500, "Configuration error", f"city_ca: {exc}", "city_ca") from None


@router.post("", status_code=201, summary="Enrol a node; returns the document it pins")
def enrol(body: NewNode, who: Principal = Depends(require(Permission.NODE_ENROL)),
          svc: Coordinator = Depends(service)) -> dict[str, Any]:
    with svc.session() as session:
        roles = set(session.scalars(select(User.role).where(
            User.active, User.signing_key.is_not(None))))
        if not {Role.JUDGE.value, Role.DPO.value} <= roles:
            raise Problem(409, "Conflict", "register at least one judge and one DPO before "
                          "enrolling nodes: a node pins their keys at enrolment", "no_signers")
        if not svc.settings.witnesses:
            raise Problem(409, "Conflict", "configure the city's witnesses (witnesses, "
                          "witness_quorum) before enrolling nodes: a node pins their keys and "
                          "believes no log checkpoint they have not cosigned", "no_witnesses")
        if session.get(Node, body.node_id) is not None:
            raise Problem(409, "Conflict", f"node {body.node_id} is already enrolled", "exists")
        if session.scalar(select(Node).where(Node.identity_key == body.identity_key)):
            raise Problem(409, "Conflict", "another node has this identity key", "exists")
        node = Node(node_id=body.node_id, site_id=body.site_id, cameras=body.cameras,
                    identity_key=body.identity_key, sealing_key=body.sealing_key,
                    flower_key=body.flower_key, enrolled_by=who.username,
                    camera_notices=[n.model_dump(mode="json") for n in body.camera_notices],
                    enrolled_at=svc.clock(), active=True)
        session.add(node)
    pinned = pins.current(svc)
    pins.handed(svc, body.node_id, pinned)
    document = enrolment_document(svc, node, pinned)
    svc.log(Event(actor=who.actor, action=Action.NODE_ENROLLED, legal_basis=LegalBasis.STATUTE,
                  outcome="enrolled", details={"node_id": body.node_id,
                                               "identity_key": body.identity_key}))
    return document


@router.get("", summary="Enrolled nodes")
def list_nodes(_: Principal = Depends(require(Permission.NODE_LIST)),
               svc: Coordinator = Depends(service)) -> list[dict[str, Any]]:
    with svc.session() as session:
        nodes = session.scalars(select(Node).order_by(Node.node_id)).all()
        return [{"node_id": n.node_id, "site_id": n.site_id, "cameras": n.cameras,
                 "active": n.active, "federated": n.flower_key is not None} for n in nodes]


@router.get("/{node_id}/enrolment", summary="The enrolment document of a node")
def enrolment(node_id: str, _: Principal = Depends(require(Permission.NODE_ENROL)),
              svc: Coordinator = Depends(service)) -> dict[str, Any]:
    with svc.session() as session:
        node = session.get(Node, node_id)
    if node is None:
        raise not_found(f"node {node_id}")
    return enrolment_document(svc, node)
