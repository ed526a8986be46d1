"""Finding (medium, retention; no attacker needed, a broker that is away or an attacker who
keeps it away): a clip's pictures outlive ``evidence_clip_hours`` and the raw video's retention
in the node's clip outbox, and are then sent.

The settings refuse an ``evidence_clip_hours`` above the raw video's retention "so a clip never
outlives the footage it came from", and ``purge_clips`` deletes ``clip_frames`` by the frames'
time. But answering a request copies every frame's JPEG into ``clip_outbox`` (base64 in the
message body), and that table is purged by ``queued``: the time of the answer, not of the
frames. A clip answered at hour 71 of its 72 while the broker is away therefore stays on disk
for up to 72 more hours after its frames, its event and the raw video are gone, and
``ClipSender`` publishes it whenever the broker comes back (on ``LIVE_QUEUE``, with no expiry).

This script keeps raw video 3 days (``retention_days = 3``, ``evidence_clip_hours = 72``: the
most the settings allow), stores an event with its clip 71 hours ago, answers a logged request
for it now with the broker away, runs the node's retention purge (``nodes.retention.
purge_stores``, what ``safecity vault purge`` runs) 48 hours later, and looks in the outbox.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_outbox_outlives_retention.py
Exit 1 = the clip's pictures survived the purge and are sent (the finding), 0 = purged.
"""

from __future__ import annotations

import base64
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from contract.evidence_clips import SignedClipFrame
from nodes.events import EventStore
from nodes.retention import purge_stores
from tests.support.world import T0, embedded_world
from tests.unit.test_clip_requests import clip, drain, event, logged, request


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-outbox-")))
    try:
        world.set_time(T0)
        world.add_node("alpha", "site-a")
        node = world.nodes["alpha"]
        settings = node.settings.model_copy(update={"retention_days": 3,
                                                    "evidence_clip_hours": 72})
        cut = T0 - timedelta(hours=71)
        store = EventStore(settings.stores.events)
        try:
            [seq] = store.add_many([event(cut)])
            store.add_clip(clip(seq, cut))
        finally:
            store.close()
        request_id = str(uuid.uuid4())
        answer = world.service("alpha").clips.answer(
            request(world, logged(world, request_id=request_id, seq=seq), request_id=request_id,
                    seq=seq))
        print("answered (broker away, nothing sent yet):", answer)
        later = T0 + timedelta(hours=48)
        gone = purge_stores(settings, world.service("alpha").audit, later, ())
        print(f"purge at +48 h: {gone}")
        store = EventStore(settings.stores.events)
        try:
            left_event, left_clip = store.event(seq), store.clip(seq, "gate")
            kept = store.clip_outbox(100)
        finally:
            store.close()
        jpegs = sum(len(base64.b64decode(body["jpeg"])) for _, _, body in kept if "jpeg" in body)
        print(f"after the purge: event {'kept' if left_event else 'gone'}, clip frames "
              f"{'kept' if left_clip else 'gone'}, outbox {len(kept)} message(s) holding "
              f"{jpegs} bytes of clip JPEG")
        published = drain(world)  # the broker is back
        times = [SignedClipFrame.model_validate(b).frame.time for b in published if "frame" in b]
        if times:
            age = later - min(times)
            print(f"sent when the broker came back: {len(times)} frames, the oldest "
                  f"{age.total_seconds() / 3600:.0f} h old (evidence_clip_hours 72, raw video "
                  f"kept 72 h)")
        found = bool(times) and left_clip is None
        print("FINDING: clip pictures kept and sent past evidence_clip_hours and the raw "
              "video's retention" if found else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
