"""The admin's page: the enrolled nodes and enrolling one (the document ``safecity node keys``
printed, pasted as is), the people who use the coordinator (create, disable, with their roles)
and the fingerprints of every public key the city uses or pins (never a private key).

The page only reads; its script changes things by calling the API's own routes (``POST
/nodes``, ``POST /users``, ``POST /users/{name}/disable``) with the session's CSRF token, so
each action is checked and audited exactly as for any other client."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from coordinator.auth import Principal, require, service
from coordinator.db import Node, PinUpdateRow
from coordinator.keys import fingerprint
from coordinator.roles import Permission, Role
from coordinator.service import Coordinator, as_utc
from coordinator.services import nodes, users
from coordinator.web.templates import PAGE_HEADERS, render

router = APIRouter(prefix="/admin", tags=["pages"], include_in_schema=False)
ADMIN = Depends(require(Permission.USER_MANAGE))

ROLE_WORDS = {Role.ADMIN: "admin", Role.POLICE: "police analyst", Role.JUDGE: "judge",
              Role.DPO: "data protection officer", Role.PLANNER: "planner",
              Role.OPERATOR: "site operator"}


def key_row(name: str, public: str, use: str) -> dict[str, str]:
    return {"name": name, "fingerprint": fingerprint(public), "public": public, "use": use}


def coordinator_keys(svc: Coordinator) -> list[dict[str, str]]:
    """The coordinator's own public keys (its private halves stay in data_dir/keys)."""
    keys = svc.keys
    return [key_row("dispatch", keys.dispatch.public.text(),
                    "signs every search sent to a site; pinned by the nodes"),
            key_row("sealing", keys.sealing.public_text(),
                    "sites seal their answers to it; pinned by the nodes"),
            key_row("audit log", keys.log.verifier.vkey(),
                    "signs the log's checkpoints; pinned by the nodes, published"),
            key_row("tokens", keys.token.public.text(), "signs the bearer tokens it issues")]


def pinned_keys(svc: Coordinator) -> tuple[int | None, list[dict[str, str]]]:
    """The judge, DPO and witness keys the nodes pin now (the last pin update sent), read
    without creating the first set (the first enrolment does that)."""
    with svc.session() as session:
        row = session.scalars(select(PinUpdateRow).where(
            PinUpdateRow.status.in_(("genesis", "dispatched")))
            .order_by(PinUpdateRow.sequence.desc())).first()
        if row is None:
            return None, []
        sequence, pinned = row.sequence, dict(row.pinned)
    return sequence, [key_row(role, public, "pinned by every node")
                      for role in ("judge", "dpo", "witness") for public in pinned.get(role, [])]


def node_rows(svc: Coordinator) -> list[dict[str, Any]]:
    with svc.session() as session:
        return [{"node_id": n.node_id, "site_id": n.site_id, "cameras": list(n.cameras),
                 "active": n.active, "federated": n.flower_key is not None,
                 "key_id": fingerprint(n.identity_key), "enrolled_by": n.enrolled_by,
                 "enrolled_at": as_utc(n.enrolled_at).strftime("%Y-%m-%d %H:%M UTC")}
                for n in session.scalars(select(Node).order_by(Node.site_id, Node.node_id))]


@router.get("")
def admin_page(request: Request, who: Principal = ADMIN,
               svc: Coordinator = Depends(service)) -> Response:
    sequence, pinned = pinned_keys(svc)
    accounts = users.listed(svc)
    signers = {u["role"] for u in accounts if u["active"] and u["key_id"]}
    return render(request, "admin.html", who=who, nodes=node_rows(svc), users=accounts,
                  roles=[(r.value, ROLE_WORDS[r]) for r in Role if r in ROLE_WORDS],
                  missing_signers=[r.value for r in (Role.JUDGE, Role.DPO)
                                   if r.value not in signers],
                  witnesses=len(svc.settings.witnesses), own_keys=coordinator_keys(svc),
                  pinned=pinned, pins_sequence=sequence)


@router.get("/nodes/{node_id}/enrolment.json")
def enrolment_file(node_id: str, _: Principal = Depends(require(Permission.NODE_ENROL)),
                   svc: Coordinator = Depends(service)) -> Response:
    """A node's enrolment document as a file to hand back to the site (`safecity node enrol`)."""
    document = nodes.enrolment(svc, node_id)
    return Response(json.dumps(document, indent=2) + "\n", media_type="application/json",
                    headers={**PAGE_HEADERS, "Content-Disposition":
                             f'attachment; filename="{document["node_id"]}-enrolment.json"'})
