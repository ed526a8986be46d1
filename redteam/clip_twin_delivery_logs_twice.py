"""Finding (low, the node's own audit log mis-records; a broker that redelivers, or anyone who
publishes a captured request twice): two deliveries of one request handled at once are sent
once but logged as two disclosures.

``ClipInbox.answer`` checks ``clip_answers`` for the id, appends the ``disclosure`` /
``evidence_clip_sent`` entry, and only then records the id with the queued frames
(``queue_clip_answer``, which a twin loses: "a twin delivery won"). Two worker processes (the
node worker's prefork pool, or a Redis redelivery after ``redelivery_seconds`` while the first
is still busy) both pass the check and both log: the node's tamper-evident log then says the
clip was disclosed twice (``counts_returned`` 2 x the frames) while the coordinator got it once.

This script opens the node's inbox twice (as two worker processes do) and hands both the same
logged request at the same moment, from two threads.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_twin_delivery_logs_twice.py
Exit 1 = more disclosure entries than sendings (the finding), 0 = one entry.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from nodes.events import EventStore
from nodes.inbox import Inbox
from nodes.inbox.clips import SENT
from tests.support.world import T0, embedded_world
from tests.unit.test_clip_requests import clip, drain, event, logged, node_log, request


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-twin-")))
    try:
        world.set_time(T0)
        world.add_node("alpha", "site-a")
        settings = world.nodes["alpha"].settings
        store = EventStore(settings.stores.events)
        try:
            [seq] = store.add_many([event(T0 - timedelta(minutes=5))])
            store.add_clip(clip(seq, T0 - timedelta(minutes=5)))
        finally:
            store.close()
        request_id = str(uuid.uuid4())
        message = request(world, logged(world, request_id=request_id, seq=seq),
                          request_id=request_id, seq=seq)
        before = len(node_log(world))
        workers = [Inbox.open(settings, clock=world.clock) for _ in range(2)]
        for worker in workers:
            _ = worker.clips  # opened before the race, as a running worker has it
        answers: list[dict[str, Any]] = []
        go = threading.Barrier(2)

        def deliver(inbox: Inbox) -> None:
            go.wait()
            answers.append(inbox.clips.answer(message))

        threads = [threading.Thread(target=deliver, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for worker in workers:
            worker.close()
        entries = [e for e in node_log(world)[before:] if e.outcome == SENT]
        sent = len(drain(world))
        print(f"answers: {answers}")
        print(f"frames published: {sent}; node log disclosure entries: {len(entries)} "
              f"(counts {[e.counts_returned for e in entries]})")
        found = len(entries) > 1
        print("FINDING: one clip sent, two disclosures logged" if found else "held (this run)")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
