"""The people who use the coordinator, created by an admin (over the API or the CLI)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from audit.records import Action, Actor, Event, LegalBasis
from coordinator.db import User
from coordinator.errors import Problem, invalid, not_found
from coordinator.keys import fingerprint
from coordinator.passwords import hash_password
from coordinator.roles import SIGNERS, Role
from coordinator.service import Coordinator, as_utc
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


def listed(svc: Coordinator) -> list[dict[str, Any]]:
    """Every account: name, role, agency, whether it is active, since when, and the
    fingerprint of a judge's or DPO's registered public key (never a password hash)."""
    with svc.session() as session:
        rows = session.scalars(select(User).order_by(User.role, User.username)).all()
        return [{"username": u.username, "role": u.role, "agency": u.agency,
                 "active": u.active, "created_at": as_utc(u.created_at).isoformat(),
                 "signing_key": u.signing_key,
                 "key_id": fingerprint(u.signing_key) if u.signing_key else None}
                for u in rows]


def disable(svc: Coordinator, username: str, by: Actor, by_username: str) -> dict[str, Any]:
    """Disable an account: its tokens stop working at their next use (``coordinator.auth``
    checks the account on every request). Nobody disables their own account, and an active
    admin always remains: inside the transaction the caller's, the target's and every admin's
    rows are locked (``SELECT ... FOR UPDATE``; on SQLite the write lock is taken before the
    reads), then the caller must still be active and the change must leave an active admin,
    else 409 ``caller_inactive`` / ``last_admin``. So two admins disabling each other at once
    are serialised: the second finds its own account disabled. A judge's or DPO's key stays
    pinned at the nodes until a signed pin update retires it; the answer says so."""
    with svc.session() as session:
        if username == by_username:
            raise Problem(409, "Conflict", "you cannot disable your own account; another "
                          "admin can", "self")
        people = _locked(session, {username, by_username})
        user = people.get(username)
        if user is None:
            raise not_found(f"user {username}")
        caller = people.get(by_username)
        if caller is None or not caller.active:
            raise Problem(409, "Conflict", "your own account was disabled meanwhile; "
                          "nothing changed", "caller_inactive")
        if not user.active:
            raise Problem(409, "Conflict", f"user {username} is already disabled", "disabled")
        admins_left = [u for u in people.values() if u.role == Role.ADMIN.value and u.active
                       and u.username != username]
        if not admins_left:
            raise Problem(409, "Conflict", f"disabling {username} would leave no active admin",
                          "last_admin")
        role, key = user.role, user.signing_key
        user.active = False
    svc.log(Event(actor=by, action=Action.CONFIG_CHANGE, legal_basis=LegalBasis.STATUTE,
                  outcome="user_disabled", details={"user": username, "role": role}))
    answer: dict[str, Any] = {"username": username, "role": role, "active": False}
    if key:
        answer["note"] = (f"{username}'s key {fingerprint(key)} stays pinned at the nodes until "
                          f"a signed pin update retires it: `safecity coordinator pins propose "
                          f"--config /etc/safecity/coordinator.toml --as {by_username} "
                          f"--retire {role}:{key} --reason {role}-left`")
    return answer


def _locked(session: Session, names: set[str]) -> dict[str, User]:
    """The named accounts and every admin account, locked until the transaction ends (in
    username order, so two callers never wait on each other's rows). SQLite has no row locks
    and pysqlite starts its transaction only at the first write: a no-op write first takes the
    database's write lock, so no other writer commits between these reads and our write."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(User).where(User.username.in_(names))
                        .values(active=User.active))
    rows = session.scalars(select(User).where(or_(User.username.in_(names),
                                                  User.role == Role.ADMIN.value))
                           .order_by(User.username).with_for_update()).all()
    return {u.username: u for u in rows}
