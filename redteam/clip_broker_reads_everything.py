"""Finding (medium, attacker c: anyone who can read the broker's queues): clip requests and
clip frames cross the broker in clear, and the request carries the salts that open the public
log entry's sealed details.

The query path seals what the broker must not see (targets to the node's sealing key, answers
to the coordinator's: ``tests.support.world.World.straight_to`` asserts "the broker may see
none of hidden: only the seal"). The clip path seals nothing: ``SignedClipRequest`` names the
node, camera, event number and the requester's pseudonym, and its ``openings`` are the salts of
the coordinator's audit entry, whose details the public log keeps only as commitments (and
sealed for the DPO); ``SignedClipFrame`` carries each redacted JPEG in base64 on
``LIVE_QUEUE``. So a broker reader gets every clip, and can prove to anyone which node, camera
and event each public ``evidence_clip_requested`` entry was about and which operator asked,
which the public log was designed to withhold.

This script sends a logged request on the real broker (the tests' Redis/RabbitMQ), reads it off
the node's queue as a snooper would, opens the public entry's commitments with the salts it
carries, lets the node answer it, has ``node run``'s outboxes publish the answer, and reads the
frames off ``LIVE_QUEUE``, decoding the pictures.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_broker_reads_everything.py
Exit 1 = the snooper read the request's details, opened the public entry and decoded the
frames (the finding), 0 = it saw only seals.
"""

from __future__ import annotations

import base64
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
from kombu import Connection

from audit.records import PublicRecord, opens
from contract.tasks import CLIP_REQUEST_TASK, LIVE_QUEUE, queue_name
from kernel.canonical import canonical_json
from nodes.events import EventStore
from nodes.node import outboxes
from tests.support.world import T0, embedded_world
from tests.unit.test_clip_requests import clip, event, logged, request


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-snoop-")))
    try:
        world.set_time(T0)
        world.add_node("alpha", "site-a")
        node = world.nodes["alpha"]
        store = EventStore(node.settings.stores.events)
        try:
            [seq] = store.add_many([event(T0 - timedelta(minutes=5))])
            store.add_clip(clip(seq, T0 - timedelta(minutes=5)))
        finally:
            store.close()
        request_id = str(uuid.uuid4())
        index = logged(world, request_id=request_id, seq=seq)
        world.svc.dispatcher.send(CLIP_REQUEST_TASK,
                                  request(world, index, request_id=request_id, seq=seq),
                                  node.node_id, f"clip-{request_id}")
        assert node.settings.broker_url is not None
        with Connection(node.settings.broker_url) as connection:  # the snooper, on the broker
            queue = connection.SimpleQueue(queue_name(node.node_id))
            taken = queue.get(timeout=10)
            seen = taken.payload[0][0]
            taken.ack()
            queue.close()
        asked = seen["request"]
        public = PublicRecord.from_leaf(world.svc.audit.entries(index, index + 1)[0].data)
        opened = {name: opens(public, name, base64.b64decode(salt),
                              canonical_json(asked[name]))
                  for name, salt in asked["openings"].items()}
        print(f"read off the node's queue: node {asked['node_id']}, camera {asked['camera']}, "
              f"event {asked['seq']}, requester {asked['requester']}")
        print(f"public entry #{index} shows commitments {sorted(public.commitments)}; opened "
              f"with the salts the request carries: {opened}")

        world.service("alpha").clips.answer(seen)  # what the worker does with it
        store = EventStore(node.settings.stores.events)
        try:
            with outboxes(node.settings, store):  # `node run` publishes the answer
                pass
        finally:
            store.close()
        pictures = []
        with Connection(node.settings.broker_url) as connection:
            queue = connection.SimpleQueue(LIVE_QUEUE)
            for _ in range(3):
                message = queue.get(timeout=10)
                body = message.payload[0][0]
                message.ack()
                image = cv2.imdecode(np.frombuffer(base64.b64decode(body["jpeg"]), np.uint8),
                                     cv2.IMREAD_COLOR)
                pictures.append(None if image is None else image.shape)
            queue.close()
        print(f"read off {LIVE_QUEUE}: {len(pictures)} clip frames decoded, shapes {pictures}")
        found = all(opened.values()) and all(p is not None for p in pictures)
        print("FINDING: the broker reads every clip and de-anonymises the public log entry"
              if found else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
