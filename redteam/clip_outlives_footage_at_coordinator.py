"""Probe (medium, privacy/retention; no attacker needed, an insider or a breach of the city's
database later benefits): a requested clip is kept at the coordinator 90 days, far longer than
the node may keep the same clip (``evidence_clip_hours``, 72 h) or the raw footage it came from
(``retention_days``, 30 days by default, shorter per camera).

The node-side design is careful that "a clip never outlives the footage it came from": its
settings refuse ``evidence_clip_hours`` above the raw video's retention (the node's and every
camera's), its outbox drops unsent answers past that time (clip red team finding 7). But once
sent, the coordinator stores the frames in ``alert_evidence_clips`` and deletes them only with
their alert at ``alert_retention_days`` (default 90; ``housekeeping.purge_alerts``), with no
bound from the node's clip or footage retention. So a clip of a camera whose footage is kept
one day is still served to the control room three months later.

This script requests and receives a clip, moves the city's clock past the node's
``evidence_clip_hours`` and past its ``retention_days``, runs the coordinator's retention purge
and fetches a frame.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_outlives_footage_at_coordinator.py
Exit 1 = the frame is still stored and served after the node's footage is gone; 0 = purged.
Suggested fix: keep clip frames at the coordinator no longer than the clip's own bound: store a
``keep_until`` per request (the node can sign its ``evidence_clip_hours`` or an explicit
expiry into each ``ClipFrame``; else a coordinator setting ``evidence_clip_days`` defaulting
below the shortest footage retention) and purge frames, requests and looks past it in
``purge_alerts`` (logged first), independently of the alert; document it in SECURITY.md.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from coordinator.evidence_clips import accept_clip
from coordinator.housekeeping import purge_alerts
from tests.support.clip_frames import clip_frame
from tests.support.world import embedded_world
from tests.unit.test_clip_coordinator import T0, requested


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-keep-")))
    try:
        world.set_time(T0 + timedelta(hours=1))
        world.add_node("alpha", "site-a")
        node = world.nodes["alpha"].settings
        alert_id, request_id, seq = requested(world)
        accept_clip(world.svc, clip_frame(world, request_id, seq, 0, 1, T0, event_index=0))
        later = max(timedelta(hours=node.evidence_clip_hours),
                    timedelta(days=node.retention_days)) + timedelta(days=1)
        world.set_time(T0 + later)
        purged = purge_alerts(world.svc)
        status = world.client.get(f"/alerts/{alert_id}/clips/{request_id}/0.jpg",
                                  headers=world.as_("operator")).status_code
        print(f"node: clips kept {node.evidence_clip_hours} h, raw footage {node.retention_days}"
              f" days; coordinator: alerts kept {world.settings.alert_retention_days} days")
        print(f"{later.days} days after the event: purge_alerts purged {purged} alerts; "
              f"GET the clip's frame -> {status}")
    finally:
        world.close()
    return 1 if status == 200 else 0


if __name__ == "__main__":
    sys.exit(main())
