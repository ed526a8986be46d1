"""An honest node blamed in the public log, once per message, by someone with no key.

An alert's evidence is signed as metadata (node, camera, seq, size, the JPEG's SHA-256); the
JPEG travels beside the signature, unsigned. The worker verifies the metadata's signature and
only then, inside ``signed_by(node)``, checks the picture against the signed SHA-256. So a
message whose metadata an honest node signed and whose picture anyone on the broker swapped is
refused as "signed by the enrolled node and refused by a check of the coordinator": one
permanent public ``access_denied`` entry naming the honest node, per message. The attacker
needs one evidence message the node once sent (read off the broker, where it sits in the clear
on the live queue until the worker takes it), and can then send it again with any picture, as
often as they like: the log grows one entry per message and each entry names a node that did
not send it. Clip frames (``SignedClipFrame``) are checked the same way.

A real ``safecity coordinator worker`` process on the embedded broker; the node's honest
evidence is made with its own key (what the node sent); the attacker's copies are that message
with the ``jpeg`` field replaced.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/evidence_altered_picture_blamed.py
Exit 1 = entries naming the honest node grow with the attacker's messages; 0 = they do not.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from celery import Celery

from contract.tasks import EVIDENCE_TASK, LIVE_QUEUE
from nodes.event_sender import evidence_message
from nodes.events import StoredEvidence
from nodes.identity import load_identity
from tests.support.world import embedded_world

SENT = 30


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", pixels)
    assert ok
    return data.tobytes()


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-evidence-blamed-")))
    try:
        world.add_node("alpha", "site-a")
        node_id = world.nodes["alpha"].node_id
        key = load_identity(world.nodes["alpha"].settings.keys_dir).signing
        honest = evidence_message(StoredEvidence(
            seq=7, camera="gate", time=datetime.now(UTC).replace(microsecond=0), width=64,
            height=48, box=None, jpeg=jpeg(1)), node_id, "site-a", key)
        world.start_coordinator_worker()
        before = world.svc.audit.size()
        attacker = Celery("anyone-on-the-broker", broker=world.broker)
        for i in range(SENT):
            forged = {**honest, "jpeg": base64.b64encode(jpeg(100 + i)).decode()}
            attacker.send_task(EVIDENCE_TASK, args=[forged], queue=LIVE_QUEUE)
        deadline, blamed = time.monotonic() + 120, 0
        while time.monotonic() < deadline and blamed < SENT:
            time.sleep(1)
            size = world.svc.audit.size()
            blamed = 0
            for entry in world.svc.audit.entries(before, size - before):
                details = {k: json.loads(v)
                           for k, v in world.svc.audit.details(entry.index).items()}
                if entry.record.outcome == "evidence_rejected" and details.get("node") == node_id:
                    blamed += 1
        grown = world.svc.audit.size() - before
        print(f"{SENT} evidence messages (the honest node's signed metadata, pictures swapped by "
              f"a broker writer with no key) -> {grown} audit entries, {blamed} of them "
              f"'evidence_rejected' naming node {node_id} as the signer "
              f"({grown / SENT:.2f} entries per message)")
    finally:
        world.close()
    return 1 if blamed >= SENT // 2 else 0


if __name__ == "__main__":
    sys.exit(main())
