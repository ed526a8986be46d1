"""Who runs a state-changing command at the coordinator's console (``safecity coordinator
add-user``, ``pins propose|dispatch``, ``fl start``): a named person or service account from
the users table, attributed in the audit log exactly as the same account signed in to the API
would be (its pseudonym, role and agency), so that the DPO's trail filtered by that account
shows what it did from either place.

The operator is named with ``--as USERNAME`` (or ``SAFECITY_OPERATOR``); the account must be
active and its role must grant the permission the same action needs through the API
(GDPR Art. 5(2) accountability; LED Art. 25 logging names who consulted or changed what).
The one exception is the very first account: while the users table is empty, ``add-user``
may create an admin without ``--as`` (or with ``--as`` naming that new admin), and that entry
is attributed to the new admin itself."""

from __future__ import annotations

from sqlalchemy import func, select

from coordinator.auth import Principal
from coordinator.db import User
from coordinator.roles import Permission, Role, allows
from coordinator.service import Coordinator
from kernel.errors import UsageError

VARIABLE = "SAFECITY_OPERATOR"


def operator(svc: Coordinator, username: str | None, permission: Permission) -> Principal:
    """The account named by ``--as``, if it may do what ``permission`` allows; else a one-line
    UsageError that says what to do."""
    if not username:
        raise UsageError(f"name who runs this with --as USERNAME (or {VARIABLE}): an active "
                         f"user whose role may {permission.value}; the audit log records them")
    with svc.session() as session:
        user = session.get(User, username)
        found = (user.role, user.agency, user.active) if user is not None else None
    if found is None:
        raise UsageError(f"--as {username}: no such user; name an existing account "
                         "(`coordinator add-user` creates one)")
    role, agency, active = found
    if not active:
        raise UsageError(f"--as {username}: the account is disabled")
    if not allows(role, permission):
        raise UsageError(f"--as {username}: a {role} may not {permission.value}; name an "
                         "account whose role may")
    return Principal(username, role, agency, svc.actor(username, role, agency))


def first_admin(svc: Coordinator, username: str, role: Role, agency: str) -> Principal | None:
    """The new account itself, when it is the first one and an admin (who else could run the
    command?); None otherwise."""
    if role is not Role.ADMIN:
        return None
    with svc.session() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
    return Principal(username, role.value, agency, svc.actor(username, role.value, agency))
