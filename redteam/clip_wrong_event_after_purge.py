"""Finding (high, no attacker needed; evidence integrity): after the node's retention purge, an
operator's honest clip request for an older alert is answered with the frames of a different,
newer event, and the coordinator files them as that alert's clip.

RUNS ON BRANCH ``clipcoord`` (it needs the coordinator's side); from a clipcoord checkout:
    PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_wrong_event_after_purge.py

Root cause: node event numbers are reused (``redteam/event_seq_reuse_drops_alerts.py``): the
node's ``events`` table is ``id INTEGER PRIMARY KEY`` without ``AUTOINCREMENT``, the node purges
events at 30 days, the coordinator keeps alerts 90. A clip request names the event by
(node, camera, seq) only; the node checks the camera and that the clip is kept, never the
event's time against the alert's (the request carries none, and the log entry's public
``scope.window``, which the coordinator sets to the event's moment, is not checked); the
coordinator's ``accept_clip`` checks request id, node, seq and camera, never the frames' times.

Exit 1 = frames dated 40 days after the alert were stored as its clip (the finding), 0 = held.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kombu import Connection

from contract.tasks import queue_name
from coordinator.clip_requests import send_clip_request
from coordinator.evidence_clips import accept_clip, of_alert
from nodes.events import EventStore
from nodes.retention import purge_stores
from tests.support.clip_frames import with_evidence
from tests.support.world import World, embedded_world
from tests.unit.test_clip_requests import clip, drain, event

T0 = datetime.now(UTC).replace(microsecond=0)


def node_event(world: World) -> tuple[int, datetime]:
    when = world.clock() - timedelta(minutes=5)
    store = EventStore(world.nodes["alpha"].settings.stores.events)
    try:
        [seq] = store.add_many([event(when)])
        store.add_clip(clip(seq, when))
    finally:
        store.close()
    return seq, when


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-wrong-event-")))
    try:
        world.set_time(T0 - timedelta(days=40))
        world.add_node("alpha", "site-a")
        seq, old_time = node_event(world)
        alert_id, _, alert_seq = with_evidence(world, old_time)
        assert alert_seq == seq, (alert_seq, seq)
        print(f"day -40: alert {alert_id} = event {seq} of gate at {old_time:%Y-%m-%d %H:%M}")

        world.set_time(T0)
        purge_stores(world.nodes["alpha"].settings, world.service("alpha").audit, T0, ())
        new_seq, new_time = node_event(world)
        print(f"day 0: node purged its old events; a new event of gate is event {new_seq} at "
              f"{new_time:%Y-%m-%d %H:%M}")

        response = world.client.post(f"/alerts/{alert_id}/clip", headers=world.as_("operator"))
        request_id = response.json()["request_id"]
        send_clip_request(world.svc, request_id)
        answer = world.service("alpha").clips.answer(_taken(world))
        outcomes = [accept_clip(world.svc, body) for body in drain(world)]
        shown = of_alert(world.svc, alert_id)
        times = sorted(f.time for f in shown.received)
        print(f"operator asks for alert {alert_id}'s clip: node {answer['outcome']}, "
              f"coordinator {outcomes}")
        if times:
            print(f"alert {alert_id} (event at {old_time:%Y-%m-%d %H:%M}) now shows "
                  f"{len(times)} frames dated {times[0]:%Y-%m-%d %H:%M}, state {shown.state}")
        found = bool(times) and times[0] > old_time + timedelta(days=1)
        print("FINDING: another event's frames filed as the alert's clip" if found else "held")
        return 1 if found else 0
    finally:
        world.close()


def _taken(world: World) -> dict[str, object]:
    """The signed request off the node's queue, as the node worker takes it."""
    node = world.nodes["alpha"]
    assert node.settings.broker_url is not None
    with Connection(node.settings.broker_url) as connection:
        queue = connection.SimpleQueue(queue_name(node.node_id))
        message = queue.get(timeout=10)
        body: dict[str, object] = message.payload[0][0]
        message.ack()
        queue.close()
    return body


if __name__ == "__main__":
    sys.exit(main())
