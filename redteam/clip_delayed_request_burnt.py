"""Finding (low, attacker c: a broker that holds messages back): a logged request delivered
late is refused as stale AND its id is recorded answered, so the coordinator's own re-send of
the same logged request (re-signed, fresh) gets nothing: the operator must log a new request.

``ClipInbox.answer`` records every refusal of a coordinator-signed request in ``clip_answers``
(``queue_clip_answer(request_id, ...)``), the stale one included, and answers any later
delivery of that id with ``again``. Staleness is not the request's fault but the transport's;
recording it lets whoever can delay the node's queue cancel any clip request, each costing the
city a second public entry for the same look. (For the other refusals, recording is what
stops a replay, and is right.)

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_delayed_request_burnt.py
Exit 1 = the re-sent request was not answered (the finding), 0 = answered.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from nodes.events import EventStore
from tests.support.world import T0, embedded_world
from tests.unit.test_clip_requests import clip, drain, event, logged, request


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-delay-")))
    try:
        world.set_time(T0)
        world.add_node("alpha", "site-a")
        store = EventStore(world.nodes["alpha"].settings.stores.events)
        try:
            [seq] = store.add_many([event(T0 - timedelta(minutes=5))])
            store.add_clip(clip(seq, T0 - timedelta(minutes=5)))
        finally:
            store.close()
        request_id = str(uuid.uuid4())
        index = logged(world, request_id=request_id, seq=seq)
        held_back = request(world, index, request_id=request_id, seq=seq)
        world.set_time(T0 + timedelta(hours=1))  # the broker delivers it an hour late
        late = world.service("alpha").clips.answer(held_back)
        resent = world.service("alpha").clips.answer(
            request(world, index, request_id=request_id, seq=seq))  # re-signed, fresh
        frames = [b for b in drain(world) if "frame" in b]
        print(f"delivered an hour late: {late}")
        print(f"the coordinator re-sends it, freshly signed: {resent}; frames sent: "
              f"{len(frames)}")
        found = not frames
        print("FINDING: a delayed delivery cancels the logged request for good" if found
              else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
