"""Finding (medium, attacker c: anyone who can read and publish on the broker, no key): cancel
any clip request, while the node still discloses the clip and logs it as sent.

RUNS ON BRANCH ``clipcoord`` (it needs the coordinator's side: ``coordinator.evidence_clips``,
``coordinator.clip_requests``, ``tests/support/clip_frames.py``); on ``clipnode`` it cannot
import. From a clipcoord checkout:
    PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_forged_refusal_cancels.py

The attacker takes the coordinator's signed request R off the node's queue, publishes a copy
with a broken signature first, then puts R back. The node refuses the copy: it logs it, and
queues a refusal of R (reason ``bad_request``) signed with its identity key
(``ClipInbox._refuse`` signs a refusal naming the unauthenticated message's request id). Then it
answers the real R: frames, logged ``evidence_clip_sent``. The coordinator's
``evidence_clips._refusal`` accepts the node-signed refusal of R and marks R ``refused``; every
frame that follows is then rejected (``clip request R is refused``). Net: the operator is told
the node refused, the node's log says it disclosed the clip, and the coordinator threw the
frames away. Repeatable for every request: a keyless denial of the whole feature, plus a node
log and a coordinator record that contradict each other.

Exit 1 = the request ended refused while the node logged it sent (the finding), 0 = held.
"""

from __future__ import annotations

import base64
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kombu import Connection

from contract.tasks import queue_name
from coordinator.clip_requests import send_clip_request
from coordinator.errors import ClipRejected
from coordinator.evidence_clips import accept_clip, of_alert
from nodes.events import EventStore
from tests.support.clip_frames import with_evidence
from tests.support.world import embedded_world
from tests.unit.test_clip_requests import clip, drain, event, node_log

T0 = datetime.now(UTC).replace(microsecond=0)


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-forged-refusal-")))
    try:
        world.set_time(T0)
        world.add_node("alpha", "site-a")
        node = world.nodes["alpha"]
        when = T0 - timedelta(minutes=5)
        store = EventStore(node.settings.stores.events)
        try:
            [seq] = store.add_many([event(when)])
            store.add_clip(clip(seq, when))
        finally:
            store.close()
        alert_id, _, alert_seq = with_evidence(world, when)
        assert alert_seq == seq, (alert_seq, seq)
        response = world.client.post(f"/alerts/{alert_id}/clip", headers=world.as_("operator"))
        request_id = response.json()["request_id"]
        assert send_clip_request(world.svc, request_id) == "sent"

        assert node.settings.broker_url is not None
        with Connection(node.settings.broker_url) as connection:  # the attacker, on the broker
            queue = connection.SimpleQueue(queue_name(node.node_id))
            taken = queue.get(timeout=10)
            real: dict[str, Any] = taken.payload[0][0]
            taken.ack()
            queue.close()
        forged = {**real, "signature": base64.b64encode(b"\0" * 64).decode()}
        inbox = world.service("alpha").clips  # the node worker takes them in this order
        print("forged copy:", inbox.answer(forged))
        print("real request:", inbox.answer(real))
        outcomes = []
        for body in drain(world):  # `node run` publishes them; the coordinator worker takes them
            try:
                outcomes.append(accept_clip(world.svc, body))
            except ClipRejected as exc:
                outcomes.append(f"rejected: {exc}")
        state = of_alert(world.svc, alert_id)
        logged = [e.outcome for e in node_log(world) if e.outcome.startswith("evidence_clip")]
        print(f"coordinator took the node's messages: {outcomes}")
        print(f"the operator sees: state {state.state}, reason {state.reason}, "
              f"{len(state.received)} frames; the node's log: {logged}")
        found = state.state == "refused" and "evidence_clip_sent" in logged
        print("FINDING: a keyless broker user cancels the clip; the node logged it disclosed"
              if found else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
