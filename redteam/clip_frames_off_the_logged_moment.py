"""Probe (medium, attacker: a compromised or buggy enrolled node): clip frames that are not of
the logged moment, nor one consistent clip, are stored and played as the alert's clip.

The public audit entry of a clip request (``contract.clip_request_log.logged_fields``) says
which moment was asked for: its scope window is the alert's time, to the millisecond. The
coordinator checks each frame's signature, picture, request, node, camera, index and count
(``coordinator.evidence_clips.accept_clip``) but never the frame's ``time`` against the
alert's, nor that the clip holds one event frame, boxes only that one, or has time and video
frame numbers rising with the index. So the node can answer a logged request for 08:00 with
redacted footage of another day (days of unlogged surveillance delivered under a public trace
that names one moment), and the control room plays it as "All N frames received, each signed
by the site's node", with no mark that anything is off.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_frames_off_the_logged_moment.py
Exit 1 = such frames were stored and shown; 0 = refused.
Suggested fix: in ``accept_clip`` refuse a frame whose ``time`` is outside the alert's time
+- (the node's clip_before/after bound, e.g. a contract constant such as 30 s), a box on a
frame that is not the event's, a second event frame, and (once stored neighbours exist) time
or video_frame not rising with the index; test each refusal.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from coordinator.errors import ClipRejected
from coordinator.evidence_clips import accept_clip
from tests.support.clip_frames import clip_frame
from tests.support.world import embedded_world
from tests.unit.test_clip_coordinator import T0, requested


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-time-")))
    try:
        world.set_time(T0 + timedelta(days=1))
        world.add_node("alpha", "site-a")
        alert_id, request_id, seq = requested(world)
        # a genuine event frame first, so that the "second event frame" below is one
        print("frame 0, the event's, at the alert's time:", accept_clip(world.svc, clip_frame(
            world, request_id, seq, 0, 5, T0, event_index=0)))
        cases = [  # (what, frame)
            ("frame 0 three days before the alert", clip_frame(
                world, request_id, seq, 0, 5, T0 - timedelta(days=3))),
            ("frame 1 a week after the alert", clip_frame(
                world, request_id, seq, 1, 5, T0 + timedelta(days=7))),
            ("frame 2 a second event frame", clip_frame(
                world, request_id, seq, 2, 5, T0, event_index=2)),
            ("frame 3 another event frame, boxed, older than frame 0", clip_frame(
                world, request_id, seq, 3, 5, T0 - timedelta(days=30), event_index=3)),
            ("frame 4 not the event's, but boxed", clip_frame(
                world, request_id, seq, 4, 5, T0, event_index=-1, box=(10, 10, 50, 50))),
            ("frame 4 timed before frame 0", clip_frame(
                world, request_id, seq, 4, 5, T0 - timedelta(seconds=2), event_index=-1)),
        ]
        accepted = 0
        for what, body in cases:
            try:
                outcome = accept_clip(world.svc, body)
            except ClipRejected as exc:
                outcome = f"refused: {exc}"
            accepted += outcome == "stored"
            print(f"{what}: {outcome}")
        clip = world.client.get(f"/alerts/{alert_id}/clip", headers=world.as_("operator")).json()
        print(f"alert time {T0.isoformat()}; the control room shows state {clip['state']}, "
              f"{len(clip['received'])}/{clip['frames']} frames:")
        for f in clip["received"]:
            print(f"  index {f['index']} time {f['time']} event_frame {f['event_frame']} "
                  f"box {f['box'] is not None} intact {f['intact']}")
    finally:
        world.close()
    return 1 if accepted else 0


if __name__ == "__main__":
    sys.exit(main())
