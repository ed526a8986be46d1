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


def first_steps(missing: list[Role], no_witnesses: bool, admin: str) -> list[str]:
    """What to do before a node can be enrolled, in order, with the commands: the judges' and
    DPOs' keys (made on their own machines, registered by an admin) and the witnesses."""
    steps = []
    for role in missing:
        name, agency = ("judge-1", "court") if role is Role.JUDGE else ("dpo-1", "city")
        steps.append(
            f"no active {role.value} with a signing key is registered: the {role.value} runs "
            f"`safecity warrant keygen --out {role.value}.key` on their own machine and hands "
            f"over the printed ed25519:... public key; an admin registers it: `safecity "
            f"coordinator add-user --config /etc/safecity/coordinator.toml --as {admin} "
            f"--username {name} --role {role.value} --agency {agency} --signing-key "
            f"ed25519:...` (or on the admin page, /admin#users, or POST /users)")
    if no_witnesses:
        steps.append("no witnesses are configured: each institution runs `safecity audit "
                     "keygen NAME --out NAME.key --witness` and `safecity audit witness "
                     "serve`; add each as a [[witnesses]] entry (name, url, key) and "
                     "witness_quorum to coordinator.toml and restart the coordinator")
    return steps


def enrol(svc: Coordinator, who: Principal, body: NewNode) -> dict[str, Any]:
    """Enrol a node once a judge, a DPO and the witnesses are there to pin; the document it
    pins (logged once it is stored)."""
    with svc.session() as session:
        roles = set(session.scalars(select(User.role).where(
            User.active, User.signing_key.is_not(None))))
        missing = [r for r in (Role.JUDGE, Role.DPO) if r.value not in roles]
        if missing or not svc.settings.witnesses:
            steps = first_steps(missing, not svc.settings.witnesses, who.username)
            raise Problem(409, "Conflict", "enrol nodes once the keys they pin exist: "
                          + " ".join(f"({n}) {s}" for n, s in enumerate(steps, 1)),
                          "no_signers" if missing else "no_witnesses",
                          extensions={"missing": [r.value for r in missing]
                                      + ([] if svc.settings.witnesses else ["witnesses"]),
                                      "steps": steps})
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
