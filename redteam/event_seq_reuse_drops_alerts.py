"""Finding (high, no attacker: retention alone; found while attacking clip requests, whose
``seq`` is the same number): after the node's retention purge deletes its newest events, the
node numbers new events with the old numbers again, and the coordinator silently drops them
as resends. New alerts are lost.

``nodes.events`` keys events by ``id INTEGER PRIMARY KEY`` without ``AUTOINCREMENT``: SQLite
gives a new row the largest id + 1 (1 in an empty table), so ids of deleted rows at the top are
handed out again. ``purge_stores`` deletes events past their camera's retention (default 30
days). The coordinator keeps alerts 90 days (``alert_retention_days``) and
``coordinator.alert_intake.accept`` stores only events whose ``(node_id, seq)`` it has not
seen: "an event seen before (a resend) is counted, not stored". A camera quiet for its retention
(or a short-retention camera whose events were the newest) therefore has its next events
counted as duplicates and never raised. The clip path inherits the confusion: the alert the
coordinator holds for ``seq`` is the old event, the node's ``seq`` is the new one, so an honest
clip request for the old alert is answered with the new event's frames
(``redteam/clip_seq_reuse_replay.py`` shows the replay side).

This script runs the real path: events stored in the node's event store, sent as the node's
``EventSender`` sends them (``nodes.event_sender.message`` over ``EventStore.unsent``) to the
coordinator's intake, the node's retention purge 40 days later, then a new event.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/event_seq_reuse_drops_alerts.py
Exit 1 = the new event was dropped as a resend (the finding), 0 = stored as a new alert.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from coordinator.alert_intake import Intake, accept
from nodes.event_sender import message
from nodes.events import EventStore
from nodes.identity import load_identity
from nodes.retention import purge_stores
from tests.support.world import T0, World, embedded_world
from tests.unit.test_clip_requests import event


def raise_and_send(world: World) -> tuple[int, Intake]:
    """One new event at the node now, sent as the node's event sender sends it."""
    node = world.nodes["alpha"]
    store = EventStore(node.settings.stores.events)
    try:
        [seq] = store.add_many([event(world.clock() - timedelta(seconds=30))])
        pending = store.unsent(100)
        intake = accept(world.svc, message(pending, node.node_id, node.settings.site_id,
                                           load_identity(node.settings.keys_dir).signing))
        store.mark_sent([e.seq for e in pending])
    finally:
        store.close()
    return seq, intake


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-seq-reuse-")))
    try:
        world.set_time(T0 - timedelta(days=40))
        world.add_node("alpha", "site-a")
        seq, first = raise_and_send(world)
        print(f"day -40: event {seq} -> coordinator stored alerts {first.alerts}, "
              f"duplicates {first.duplicates}")
        world.set_time(T0)
        gone = purge_stores(world.nodes["alpha"].settings, world.service("alpha").audit, T0, ())
        print(f"day 0: node retention purge: {gone['events_deleted']} event(s) deleted")
        seq, second = raise_and_send(world)
        print(f"day 0: new event {seq} -> coordinator stored alerts {second.alerts}, "
              f"duplicates {second.duplicates}")
        found = not second.alerts
        print("FINDING: a new event reused an old number and was dropped as a resend" if found
              else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
