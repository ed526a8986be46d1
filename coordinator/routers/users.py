"""``/users``: the people who use the coordinator, created by an admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from audit.records import Action, Event, LegalBasis
from contract.key_fields import Ed25519Public
from coordinator.auth import Principal, authenticate, require, service
from coordinator.db import User
from coordinator.passwords import MIN_LENGTH, hash_password
from coordinator.problems import Problem, invalid
from coordinator.roles import SIGNERS, Permission, Role
from coordinator.service import Coordinator

router = APIRouter(prefix="/users", tags=["users"])


USERNAME = r"^[a-z0-9][a-z0-9_.-]{1,63}$"


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME)
    role: Role
    agency: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    password: str = Field(min_length=MIN_LENGTH, max_length=1024)
    signing_key: Ed25519Public | None = Field(default=None, description="judges and DPOs")


def create_user(svc: Coordinator, body: NewUser, by: str) -> None:
    """Shared by the API and ``safecity coordinator user add``."""
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
    svc.log(Event(actor=svc.actor(by, Role.ADMIN.value, "city"), action=Action.CONFIG_CHANGE,
                  legal_basis=LegalBasis.STATUTE, outcome="user_created",
                  details={"user": body.username, "role": body.role.value}))


@router.post("", status_code=201, summary="Create a user (admin)")
def add_user(body: NewUser, who: Principal = Depends(require(Permission.USER_MANAGE)),
             svc: Coordinator = Depends(service)) -> dict[str, Any]:
    create_user(svc, body, who.username)
    return {"username": body.username, "role": body.role.value, "agency": body.agency}


@router.get("/me", summary="Who the token belongs to")
def me(who: Principal = Depends(authenticate)) -> dict[str, Any]:
    return {"username": who.username, "role": who.role, "agency": who.agency,
            "pseudonym": who.actor.pseudonym}
