"""Finding (medium, attacker c: anyone who can publish on the broker, no key at all): for every
unsigned or malformed message on a node's queue, the node's worker writes an entry in its own
tamper-evident audit log, stores a refusal in its durable clip outbox, and signs it with its
identity key for the coordinator, naming whatever request id the message carried.

``nodes.inbox.clips.ClipInbox._refuse`` is reached for a message that fails validation or the
coordinator's signature; unlike the query path (which returns its refusal as the task's result
only) it queues the refusal with ``queue_clip_answer(None, "", ...)``: no request id recorded,
so no limit, and ``node run``'s ``ClipSender`` publishes each one as ``CLIP_TASK`` on the
coordinator's ``LIVE_QUEUE``. Consequences shown here, through the real node worker process
taking the messages from the real broker:

* the node signs "I refused clip request R (bad_request)" for a request R it actually answered
  with frames (R copied from the queue by the broker snooper), so its own log holds both
  ``evidence_clip_sent`` and ``evidence_clip_refused`` for R and the coordinator receives a
  node-signed refusal of R after R's frames: a signed statement that the disclosure was refused;
* unbounded growth: one node audit entry, one outbox row and one published message per
  attacker message (the outbox rows outlive nothing but ``evidence_clip_hours``; with
  ``evidence_clip_hours = 0`` no ClipSender runs, so they are never sent and never purged until
  the purge runs with cut-off "now").

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_unsigned_refusals.py
Exit 1 = unauthenticated messages produced node-signed refusals and log entries (the finding).
"""

from __future__ import annotations

import base64
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from contract.evidence_clips import SignedClipRefusal
from contract.tasks import CLIP_REQUEST_TASK
from nodes.events import EventStore
from tests.support.world import T0, World, embedded_world
from tests.unit.test_clip_requests import clip, drain, event, logged, node_key, request

FLOOD = 40


def through_worker(world: World, message: Any, task_id: str) -> dict[str, Any]:
    """Published on the node's queue as anyone on the broker can; the worker's answer."""
    world.svc.dispatcher.send(CLIP_REQUEST_TASK, message, world.nodes["alpha"].node_id, task_id)
    deadline = time.monotonic() + 120
    while (answer := world.svc.dispatcher.answer(task_id)) is None:
        assert time.monotonic() < deadline, world.worker_log("alpha")
        time.sleep(0.1)
    return answer


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-unsigned-")))
    try:
        world.set_time(T0)
        world.add_node("alpha", "site-a")
        store = EventStore(world.nodes["alpha"].settings.stores.events)
        try:
            [seq] = store.add_many([event(T0 - timedelta(minutes=5))])
            store.add_clip(clip(seq, T0 - timedelta(minutes=5)))
        finally:
            store.close()
        audit = world.service("alpha").audit
        world.start_worker("alpha")
        try:
            request_id = str(uuid.uuid4())
            legit = request(world, logged(world, request_id=request_id), request_id=request_id)
            print("the coordinator's logged request:", through_worker(world, legit, "legit"))
            frames = drain(world)
            size_before = audit.size()
            bad_signature = {**legit, "signature": base64.b64encode(b"\0" * 64).decode()}
            malformed = {"request": {"request_id": request_id, "seq": 1}}
            for n in range(FLOOD):
                through_worker(world, bad_signature if n % 2 else malformed, f"rogue-{n}")
        finally:
            world.stop_worker("alpha")
        grew = audit.size() - size_before
        published = drain(world)
        refusals = [SignedClipRefusal.model_validate(b) for b in published]
        signed_for_r = [r for r in refusals if r.refusal.request_id == request_id
                        and r.refusal.signed_by(node_key(world), r.signature)]
        print(f"{len(frames)} frames sent for request {request_id}")
        print(f"{FLOOD} unsigned/malformed messages -> {grew} new node audit entries, "
              f"{len(published)} messages published to the coordinator, {len(signed_for_r)} of "
              f"them refusals of {request_id} signed with the node's identity key "
              f"(reason {refusals[0].refusal.reason.value if refusals else '-'})")
        found = grew >= FLOOD and len(signed_for_r) >= FLOOD
        print("FINDING: a keyless broker user makes the node log, store and sign refusals of a "
              "request it answered" if found else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
