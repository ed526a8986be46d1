"""One attempt at one webhook or MQTT delivery at a time: a lease on the delivery's row.

A delivery's task can run twice at once: the broker redelivers a task whose worker went quiet
(Redis's visibility timeout, a late acknowledgement after a lost connection), and the
housekeeping sweep queues again a delivery whose task it takes for lost
(``coordinator.delivery_sweep``). Reading "still pending?" and then sending let both send.

An attempt therefore first claims the row with one conditional UPDATE: pending, and not leased
(or its lease over), sets ``leased_until`` and counts the attempt. On PostgreSQL a second
UPDATE of the same row waits for the first transaction and then finds the lease taken (READ
COMMITTED re-checks the condition on the committed row); SQLite has one writer at a time. The
claim is committed before anything is sent, and the outcome recorded after: delivered (the
lease ends with the row), or failed (the lease is given back at once, so the retry need not
wait for it). The attempt number is the claim's token: an attempt gives back only its own
lease.

A failed webhook attempt also sets when the next one is due (``retry_delay``: 1, 2, 4 ... 60 s, the
task's own retry countdown), and the claim takes only a due row: a task that comes early (queued
by anyone on the broker with a delivery's small id, or a duplicate) does nothing and counts no
attempt, so it cannot use up the attempts before the receiver is back (red team 3, December
2026). The honest task retries when the delivery is due; a lost one is queued again by the sweep
long after that.

What remains is what no sender can rule out by itself: a worker stopped after the receiver took
a message and before the outcome is committed. Its lease runs out and the next attempt sends
the message again, with the same id (``webhook-id`` and ``idempotency-key``, or the MQTT
message's topic and alert id) for the receiver to drop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from coordinator.db import Delivery, MqttDelivery
from coordinator.errors import DeliveryFailed

# Far above one attempt: a webhook's 5 s connect, write and read timeouts, or an MQTT publish's
# wait for its PUBACK (added to this)
LEASE = timedelta(seconds=60)
Row = TypeVar("Row", Delivery, MqttDelivery)


class DeliveryBusy(DeliveryFailed):
    """Another attempt at the delivery is in flight: tried again later (it is done by then, or
    has failed and given its lease back, or its worker has stopped and the lease runs out)."""


def retry_delay(attempt: int) -> timedelta:
    """How long after failed attempt number ``attempt`` (1, 2 ...) the next one is due."""
    return timedelta(seconds=min(60, 2 ** min(max(attempt - 1, 0), 6)))


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int  # the row's attempt count this claim set: whose lease it is


def free(table: type[Row], now: datetime) -> ColumnElement[bool]:
    """The condition "no attempt holds the row now" (for the claim and the sweep)."""
    return or_(table.leased_until.is_(None), table.leased_until <= now)


def due(table: type[Row], now: datetime) -> ColumnElement[bool]:
    """The condition "its next attempt is due" (no failed attempt's backoff still running)."""
    return or_(table.due_at.is_(None), table.due_at <= now)


def claim(session: Session, table: type[Row], delivery_id: int, now: datetime,
          lease: timedelta = LEASE) -> Claim | None:
    """Take the delivery for one attempt (the caller commits before sending); None when it is
    no longer pending (done, failed, purged) or not due yet (an early task: no attempt counted).
    DeliveryBusy when another attempt holds it."""
    taken = session.execute(
        update(table).where(table.id == delivery_id, table.state == "pending",
                            free(table, now), due(table, now))
        .values(attempts=table.attempts + 1, leased_until=now + lease, touched_at=now)
        .execution_options(synchronize_session=False))
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        attempt = session.scalar(select(table.attempts).where(table.id == delivery_id))
        assert attempt is not None
        return Claim(delivery_id, attempt)
    row = session.execute(select(table.state, table.leased_until)
                          .where(table.id == delivery_id)).one_or_none()
    if row is not None and row.state == "pending" and row.leased_until is not None \
            and _aware(row.leased_until) > now:
        raise DeliveryBusy(f"delivery {delivery_id}: another attempt is in flight")
    return None


def settle(session: Session, table: type[Row], claimed: Claim, now: datetime,
           error: str | None, delay: timedelta | None = None) -> None:
    """Record an attempt's outcome: delivered (whoever holds the row now: the message went
    out), or its error, giving its own lease back; the next attempt is due ``delay`` later
    (a webhook's: ``retry_delay``; an MQTT delivery, never given up, is due at once)."""
    mine = (table.id == claimed.delivery_id) & (table.state == "pending")
    if error is None:
        session.execute(update(table).where(mine).values(
            state="delivered", delivered_at=now, last_error=None, leased_until=None)
            .execution_options(synchronize_session=False))
    else:
        session.execute(update(table).where(mine, table.attempts == claimed.attempt).values(
            last_error=error[:500], leased_until=None,
            due_at=None if delay is None else now + delay)
            .execution_options(synchronize_session=False))


def _aware(moment: datetime) -> datetime:
    """A stored time as an aware one (SQLite gives naive UTC back)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
