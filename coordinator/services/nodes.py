"""Enrolling camera-site nodes and the document each node pins.

The enrolment document lists the keys the node will trust from then on: the coordinator's
dispatch key, its audit log key, and the judges' and DPOs' signing keys the city pins (those
registered when the first node enrolled, changed since only by signed pin updates, see
coordinator/services/pins.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from audit.records import Action, Event, LegalBasis
from contract.pins import DEFAULT_QUORUM
from contract.tasks import queue_name
from coordinator.auth import Principal
from coordinator.db import Node, PinUpdateRow, User
from coordinator.errors import Problem, not_found
from coordinator.roles import Role
from coordinator.service import Coordinator, as_utc
from coordinator.services import pins
from coordinator.services.requests import NewNode
from privacy.pki import check_ca


def enrolment_document(svc: Coordinator, node: Node, pinned: PinUpdateRow | None = None
                       ) -> dict[str, Any]:
    """The document a node pins: the city's judge and DPO keys as the last pin update left
    them (coordinator/services/pins.py), and the quorum that must sign the next one."""
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


def enrol(svc: Coordinator, who: Principal, body: NewNode) -> dict[str, Any]:
    """Enrol a node once a judge, a DPO and the witnesses are there to pin; the document it
    pins (logged once it is stored)."""
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
                    camera_placements=[p.model_dump(mode="json")
                                       for p in body.camera_placements],
                    enrolled_at=svc.clock(), active=True)
        session.add(node)
    pinned = pins.current(svc)
    pins.handed(svc, body.node_id, pinned)
    document = enrolment_document(svc, node, pinned)
    svc.log(Event(actor=who.actor, action=Action.NODE_ENROLLED, legal_basis=LegalBasis.STATUTE,
                  outcome="enrolled", details={"node_id": body.node_id,
                                               "identity_key": body.identity_key}))
    return document


def listed(svc: Coordinator) -> list[dict[str, Any]]:
    with svc.session() as session:
        nodes = session.scalars(select(Node).order_by(Node.node_id)).all()
        return [{"node_id": n.node_id, "site_id": n.site_id, "cameras": n.cameras,
                 "active": n.active, "federated": n.flower_key is not None} for n in nodes]


def enrolment(svc: Coordinator, node_id: str) -> dict[str, Any]:
    with svc.session() as session:
        node = session.get(Node, node_id)
    if node is None:
        raise not_found(f"node {node_id}")
    return enrolment_document(svc, node)
