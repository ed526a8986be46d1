"""The people who use the coordinator, created by an admin (over the API or the CLI)."""

from __future__ import annotations

from audit.records import Action, Actor, Event, LegalBasis
from coordinator.db import User
from coordinator.errors import Problem, invalid
from coordinator.passwords import hash_password
from coordinator.roles import SIGNERS, Role
from coordinator.service import Coordinator
from coordinator.services.requests import NewUser


def create_user(svc: Coordinator, body: NewUser, by: Actor) -> None:
    """Shared by the API and ``safecity coordinator add-user``; ``by`` is the admin (or, for
    the first account, the new admin itself) the audit entry names."""
    if body.role is Role.NODE:
        raise invalid("nodes are enrolled at /nodes, not created as users")
    if (body.role in SIGNERS) != (body.signing_key is not None):
        raise invalid("judges and DPOs register an Ed25519 signing key; others do not")
    with svc.session() as session:
        if session.get(User, body.username) is not None:
            raise Problem(409, "Conflict", f"user {body.username} exists", "exists")
        session.add(User(username=body.username, role=body.role.value, agency=body.agency,
                         password_hash=hash_password(body.password),
                         signing_key=body.signing_key, active=True, created_at=svc.clock()))
    svc.log(Event(actor=by, action=Action.CONFIG_CHANGE,
                  legal_basis=LegalBasis.STATUTE, outcome="user_created",
                  details={"user": body.username, "role": body.role.value}))
