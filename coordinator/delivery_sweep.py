"""Queueing again the webhook and MQTT deliveries whose task was lost.

A batch's deliveries are planned in the transaction that stores its alerts, and their tasks
queued after it commits (``coordinator.worker``): a worker stopped between the two (killed,
its host lost) leaves deliveries pending that no task will ever try. Each delivery row notes
when it was last touched (planned, tried, or queued again here); the housekeeping job queues
again every delivery still pending and untouched for ``delivery_requeue_seconds``, touching it
so that the next sweep leaves it alone for as long again.

Each action is still delivered once: a delivery task does nothing for a delivery no longer
pending, and an attempt holds the delivery's lease while it sends
(``coordinator.delivery_claims``), so a task queued here while the original is in flight, or
redelivered by the broker, waits for it instead of sending too. A row leased now is not queued
again (its attempt is alive, or its lease runs out first)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select

from contract.tasks import DELIVER_TASK, PUBLISH_MQTT_TASK, WEBHOOKS_QUEUE
from coordinator.db import Delivery, MqttDelivery
from coordinator.delivery_claims import Row, free
from coordinator.errors import DispatchError
from coordinator.service import Coordinator

log = logging.getLogger(__name__)
PER_SWEEP = 1000  # per kind: a long outage's backlog goes over a few sweeps


def _stranded(svc: Coordinator, table: type[Row]) -> list[int]:
    """The pending deliveries untouched since the cutoff, touched now (rows another sweep is
    taking are skipped, not waited for)."""
    now = svc.clock()
    cutoff = now - timedelta(seconds=svc.settings.delivery_requeue_seconds)
    with svc.session() as session:
        rows = session.scalars(
            select(table).where(table.state == "pending", free(table, now),
                                or_(table.touched_at.is_(None), table.touched_at < cutoff))
            .order_by(table.id).limit(PER_SWEEP).with_for_update(skip_locked=True)).all()
        for row in rows:
            row.touched_at = now
        return [row.id for row in rows]


def requeue_stranded(svc: Coordinator) -> dict[str, Any]:
    """Queue again the stranded webhook and MQTT deliveries; how many of each (or why not)."""
    done: dict[str, Any] = {}
    for kind, ids, task in (("webhooks", _stranded(svc, Delivery), DELIVER_TASK),
                            ("mqtt", _stranded(svc, MqttDelivery), PUBLISH_MQTT_TASK)):
        try:
            for delivery_id in ids:
                svc.dispatcher.enqueue(task, [delivery_id], WEBHOOKS_QUEUE)
        except DispatchError as exc:  # touched: tried again after another period
            log.warning("housekeeping: %s deliveries not queued again: %s", kind, exc)
            done[kind] = str(exc)
            continue
        if ids:
            log.warning("housekeeping: %d stranded %s deliveries queued again (%s)", len(ids),
                        kind, ", ".join(map(str, ids[:20])))
        done[kind] = len(ids)
    return done
