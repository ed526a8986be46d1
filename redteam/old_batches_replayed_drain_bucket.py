"""An honest node's old event batches, replayed by anyone, come back as alerts and use up the
node's flood limit: its live events are refused, and the refusal is logged in its name.

An event batch is refused only for events dated too far ahead (``EVENTS_AHEAD``); neither its
``sent_at`` nor its events' age is checked, and a resend is recognised only by the alerts and
intake decisions still stored, which go at ``alert_retention_days``. So a batch a node sent
(and anyone on the broker read) is new again once its alerts were purged: a broker writer with
no key replays the node's batches from past the retention period. Their events are stored
again as the node's alerts (resurrected after the purge, with incidents, webhooks, MQTT
actions), and each takes a token from the node's bucket (``coordinator.intake_limit``): 1,000
replayed events use up the burst (those past it are refused: an ``events_refused`` entry
naming the honest node), and the node's own events of now are refused, another such entry.

A real ``safecity coordinator worker`` process on the embedded broker. The node's old batches
are made with its key, dated 91 days back (past the default 90-day retention), as it sent them
then; the attacker only sends them again. Then the node's live batch of ``LIVE`` events.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/old_batches_replayed_drain_bucket.py
Exit 1 = old batches were taken again and the node's live events refused; 0 = not.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from contract.events import AnalyticsEvent, EventBatch, SignedEventBatch
from contract.tasks import EVENTS_QUEUE, EVENTS_TASK
from coordinator.db import Alert
from nodes.event_sender import celery_publisher
from nodes.identity import load_identity
from privacy.signing import SigningKey
from tests.support.world import World, embedded_world

OLD_BATCHES, PER_BATCH, LIVE = 3, 500, 20


def batch(node_id: str, key: SigningKey, sent: datetime, seqs: range) -> dict[str, object]:
    body = EventBatch(node_id=node_id, site="site-a", sent_at=sent, events=tuple(
        AnalyticsEvent(seq=s, type="restricted_area", rule="restricted_area-1", camera="gate",
                       zone="platform", line=None, direction=None,
                       time=sent - timedelta(seconds=1), count=1, tokens=(), score=None)
        for s in seqs))
    return SignedEventBatch(batch=body, signature=body.sign(key)).model_dump(mode="json")


def counts(world: World, since: datetime) -> tuple[int, int]:
    with world.svc.session() as session:
        old = session.scalar(select(func.count()).select_from(Alert).where(Alert.time < since))
        live = session.scalar(select(func.count()).select_from(Alert).where(Alert.time >= since))
    return int(old or 0), int(live or 0)


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-old-batches-")))
    try:
        world.add_node("alpha", "site-a")
        node_id = world.nodes["alpha"].node_id
        key = load_identity(world.nodes["alpha"].settings.keys_dir).signing
        then = datetime.now(UTC).replace(microsecond=0) - timedelta(days=91)
        captured = [batch(node_id, key, then + timedelta(minutes=i),
                          range(1 + i * PER_BATCH, 1 + (i + 1) * PER_BATCH))
                    for i in range(OLD_BATCHES)]
        world.start_coordinator_worker()
        before = world.svc.audit.size()
        send, close = celery_publisher(world.broker, EVENTS_TASK, EVENTS_QUEUE)
        try:
            for body in captured:  # the attacker: the node's batches of 91 days ago, again
                send(body)
            now = datetime.now(UTC).replace(microsecond=0)
            first = OLD_BATCHES * PER_BATCH + 1
            send(batch(node_id, key, now + timedelta(seconds=1), range(first, first + LIVE)))
        finally:
            close()
        deadline = time.monotonic() + 120
        refusals = 0
        while time.monotonic() < deadline:
            time.sleep(1)
            size = world.svc.audit.size()
            refusals = sum(1 for e in world.svc.audit.entries(before, size - before)
                           if e.record.outcome == "events_refused")
            old, live = counts(world, now)
            if live == LIVE or refusals >= 2:
                break
        print(f"{OLD_BATCHES} batches of {PER_BATCH} events the node sent 91 days ago, replayed "
              f"(no key) -> {old} alerts dated 91 days back stored again; the node's live "
              f"batch of {LIVE} events right after -> {live} stored; {refusals} 'events_refused' "
              "entries naming the honest node")
    finally:
        world.close()
    return 1 if old and live < LIVE else 0


if __name__ == "__main__":
    sys.exit(main())
