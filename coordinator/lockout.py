"""Failed-login lock-out that holds across API workers: a password try is counted *before*
Argon2 checks it, never after, so guesses sent at once cannot all be checked while the count
still reads low (OWASP ASVS 4.0 V2.2.1; NIST SP 800-63B section 5.2.2, throttling).

Each account and each client address has a counter row for the current window. Taking a slot
is one conditional upsert (``INSERT ... ON CONFLICT DO UPDATE SET tries = tries + 1 WHERE
tries < most``) inside a transaction that takes every slot or none: PostgreSQL locks the row
and checks the condition on its newest version, and SQLite holds its write lock, so at most
``most`` tries are checked per window whatever the number of workers. A right password gives
its slots back and clears the account's count; a wrong one leaves them taken (the failures).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import case, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from coordinator.db import LoginTries

ACCOUNT = "account"
CLIENT = "client"


@dataclass(frozen=True)
class Slot:
    """One counter (``scope``, ``key``) and the most tries it allows per window."""

    scope: str
    key: str
    most: int


def _take(session: Session, slot: Slot, now: int, window: int) -> bool:
    """One statement: a first try makes the row; a later one counts if the slot has room or
    its window is over (a new window starts). A purge between two tries cannot fail it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stale = LoginTries.window_started <= now - window
    taken = session.execute(
        dialect.insert(LoginTries)
        .values(scope=slot.scope, key=slot.key, tries=1, window_started=now)
        .on_conflict_do_update(
            index_elements=[LoginTries.scope, LoginTries.key],
            set_={"tries": case((stale, 1), else_=LoginTries.tries + 1),
                  "window_started": case((stale, now), else_=LoginTries.window_started)},
            where=or_(LoginTries.tries < slot.most, stale))
        .returning(LoginTries.tries))
    return taken.first() is not None  # no row: the slot is full


class _Full(Exception):
    """A slot is full: undo the slots taken so far."""


def reserve(transaction: Callable[[], AbstractContextManager[Session]], slots: list[Slot],
            now: int, window: int) -> bool:
    """Take one try under every slot, or none (False: locked out). Slots are taken in the
    same order in every worker, so two transactions never wait on each other's rows."""
    try:
        with transaction() as session:
            for slot in slots:
                if not _take(session, slot, now, window):
                    raise _Full
    except _Full:
        return False
    return True


def give_back(session: Session, slots: list[Slot], clear: Slot) -> None:
    """A right password: its tries do not count, and the account's earlier failures are
    forgiven (``clear``)."""
    for slot in slots:
        session.execute(
            update(LoginTries)
            .where(LoginTries.scope == slot.scope, LoginTries.key == slot.key,
                   LoginTries.tries > 0)
            .values(tries=0 if slot == clear else LoginTries.tries - 1)
            .execution_options(synchronize_session=False))


def purge(session: Session, now: int, window: int) -> int:
    """Delete counters whose window is over (they hold account names and client addresses)."""
    gone = session.execute(delete(LoginTries).where(LoginTries.window_started <= now - window)
                           .execution_options(synchronize_session=False))
    return int(gone.rowcount)  # type: ignore[attr-defined]  # a DELETE: a CursorResult
