"""Probe (low, attacker: a compromised node, or no attacker at all: frames lost on the way): a
clip that arrives incomplete stays incomplete for good; the operator can never ask again, and
every open incident page polls it for ever.

``coordinator.clip_requests.request_clip`` answers a new request with the existing one while
it is ``requested``, ``sent`` or ``received``, and ``received`` is set by the first frame. A
node that sends frame 0 of a clip of 64 and nothing more (or a node whose outbox drops the rest
unsent past ``evidence_clip_hours``, or a broker that loses them) leaves the alert at "1 of 64
frames received; more are coming." with no timeout: a signed refusal is ignored once a frame
is kept, and ``POST /alerts/{id}/clip`` keeps returning the stale request (200, nothing
logged). ``static/evidence_clips.js`` follows it while ``received < frames``, every 5 s, on
every page open on the incident, and each ``GET /alerts/{id}/clip`` re-verifies every stored
frame's signature.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_partial_never_asked_again.py
The same holds for a request ``sent`` to a node that never answers (offline for good, its
queue's message lost): ``sent`` has no deadline either, so the alert's clip can never be asked
for again; the script shows both.

Exit 1 = the partial or unanswered clip blocks a new request even a day later; 0 = it can be
asked again.
Suggested fix: give a request a deadline (e.g. ``updated_at`` + a few minutes without a new
frame): past it, an incomplete clip is ``incomplete`` (shown with what came), the page stops
following it, and a new request may be logged and sent.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from coordinator.clip_requests import send_clip_request
from coordinator.evidence_clips import accept_clip
from tests.support.clip_frames import clip_frame, with_evidence
from tests.support.world import embedded_world
from tests.unit.test_clip_coordinator import T0, requested


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-partial-")))
    try:
        world.set_time(T0 + timedelta(hours=1))
        world.add_node("alpha", "site-a")
        alert_id, request_id, seq = requested(world)
        print("frame 0 of 64:", accept_clip(world.svc, clip_frame(
            world, request_id, seq, 0, 64, T0, event_index=0)))
        # a second alert's request sent to a node that never answers (offline, message lost)
        silent_alert, _, _ = with_evidence(world, T0 + timedelta(minutes=1))
        silent = world.client.post(f"/alerts/{silent_alert}/clip",
                                   headers=world.as_("operator")).json()["request_id"]
        print("the second request:", send_clip_request(world.svc, silent))
        world.set_time(T0 + timedelta(days=1))
        stuck = 0
        for alert, first in ((alert_id, request_id), (silent_alert, silent)):
            again = world.client.post(f"/alerts/{alert}/clip", headers=world.as_("operator"))
            clip = again.json()
            stuck += clip["request_id"] == first
            print(f"a day later, POST /alerts/{alert}/clip -> {again.status_code}, the same "
                  f"request: {clip['request_id'] == first}, state {clip['state']}, "
                  f"{len(clip['received'])} of {clip['frames']} frames")
    finally:
        world.close()
    return 1 if stuck else 0


if __name__ == "__main__":
    sys.exit(main())
