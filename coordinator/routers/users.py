"""``/users``: the people who use the coordinator, created by an admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path

from coordinator.auth import Principal, authenticate, require, service
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services import users
from coordinator.services.requests import USERNAME, NewUser
from coordinator.services.users import create_user

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=201, summary="Create a user (admin)")
def add_user(body: NewUser, who: Principal = Depends(require(Permission.USER_MANAGE)),
             svc: Coordinator = Depends(service)) -> dict[str, Any]:
    create_user(svc, body, who.actor)
    return {"username": body.username, "role": body.role.value, "agency": body.agency}


@router.get("", summary="Every account, its role and key fingerprint (admin)")
def list_users(_: Principal = Depends(require(Permission.USER_MANAGE)),
               svc: Coordinator = Depends(service)) -> list[dict[str, Any]]:
    return users.listed(svc)


@router.post("/{username}/disable", summary="Disable an account (admin); its tokens stop at once")
def disable_user(username: str = Path(pattern=USERNAME),
                 who: Principal = Depends(require(Permission.USER_MANAGE)),
                 svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return users.disable(svc, username, who.actor, who.username)


@router.get("/me", summary="Who the token belongs to")
def me(who: Principal = Depends(authenticate)) -> dict[str, Any]:
    return {"username": who.username, "role": who.role, "agency": who.agency,
            "pseudonym": who.actor.pseudonym}
