"""Webhook deliveries in tests that call the delivery function directly, without the worker's
retry countdown: a failed attempt's backoff (``coordinator.delivery_claims.retry_delay``) made
to have run, so the next call is the due retry, not an early task (which does nothing)."""

from __future__ import annotations

from sqlalchemy import update

from coordinator.db import Delivery
from coordinator.service import Coordinator


def backoff_over(svc: Coordinator, delivery_id: int) -> None:
    """The delivery's next attempt due now, as when the task's retry countdown has run."""
    with svc.session() as session:
        session.execute(update(Delivery).where(Delivery.id == delivery_id)
                        .values(due_at=svc.clock()))
