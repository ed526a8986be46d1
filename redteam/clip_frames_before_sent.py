"""Probe (low, attacker: a compromised enrolled node reading the public audit log): frames are
taken for a request the coordinator has not sent yet (no witnessed receipt, never signed, never
on the node's queue), so the node's side of the design (answer only a request whose receipt
proves the witnessed log holds it; log the disclosure first) can be skipped entirely.

The request's id is public the moment it is logged (the audit entry's id is the request's
uuid, ``contract.clip_request_log.logged_fields``), before the worker has a cosigned checkpoint
covering it. ``accept_clip`` takes frames for a request in state ``requested`` as for ``sent``
(``PENDING``), though SECURITY.md says "a request id the coordinator sent". A node that watches
the log's public entries for its own node id answers with whatever frames it likes while the
witnesses are away, and nothing at the node records a disclosure (no ``SignedClipRequest``
ever reached it). The coordinator's own public entry still exists, so the trace is not lost,
but the node-side checks the design relies on never ran.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_frames_before_sent.py
Exit 1 = a frame for a request still ``requested`` (never sent) was stored; 0 = refused.
Suggested fix: accept frames (and refusals) only for requests in ``sent`` or ``received``; a
frame for a ``requested`` one is refused (and the request id learnt from the log is of no use
until the signed request has left).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from coordinator.db import EvidenceClipRequest
from coordinator.errors import ClipRejected
from coordinator.evidence_clips import accept_clip
from tests.support.clip_frames import clip_frame
from tests.support.world import embedded_world
from tests.unit.test_clip_coordinator import T0, requested


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-unsent-")))
    try:
        world.set_time(T0 + timedelta(hours=1))
        world.add_node("alpha", "site-a")
        _, request_id, seq = requested(world, sent=False)  # logged and stored; never sent
        public = [e for e in world.svc.audit.entries(0, 1000) if e.record.event_id == request_id]
        with world.svc.session() as session:
            state = session.scalar(select(EvidenceClipRequest.state).where(
                EvidenceClipRequest.request_id == request_id))
        print(f"request {request_id}: state {state}; public log entries with its id: "
              f"{len(public)}")
        try:
            outcome = accept_clip(world.svc, clip_frame(world, request_id, seq, 0, 1, T0,
                                                        event_index=0))
        except ClipRejected as exc:
            outcome = f"refused: {exc}"
        print(f"a frame for it from the node: {outcome}")
    finally:
        world.close()
    return 1 if outcome == "stored" else 0


if __name__ == "__main__":
    sys.exit(main())
