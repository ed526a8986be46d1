"""One enrolled node gone rogue grows the public audit log one entry per message, without limit.

A message an enrolled node signed and the coordinator refused is "one entry naming the node,
which is accountable" (``coordinator.worker.refused``). Nothing bounds how many: the node's
event rate limit (``coordinator.intake_limit``) charges only admitted events, and refusals
before it (a camera not enrolled, a site not its own, a picture not the one signed, an export
report naming an unregistered warrant) are each a permanent public entry that every citizen,
node and witness downloads and verifies for ever. The anonymous path counts such refusals per
interval; the signed path does not.

A real ``safecity coordinator worker`` process on the embedded broker; the rogue node signs
``SENT`` tiny event batches with its own enrolled key, each for a camera it does not have.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/rogue_node_signed_refusals_flood.py
Exit 1 = about one entry per message; 0 = bounded (counted, or one per interval).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from contract.tasks import EVENTS_QUEUE, EVENTS_TASK
from nodes.event_sender import celery_publisher, message
from nodes.events import StoredEvent
from nodes.identity import load_identity
from tests.support.world import embedded_world

SENT = 40


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-rogue-refusals-")))
    try:
        world.add_node("alpha", "site-a")
        node_id = world.nodes["alpha"].node_id
        key = load_identity(world.nodes["alpha"].settings.keys_dir).signing
        world.start_coordinator_worker()
        before = world.svc.audit.size()
        send, close = celery_publisher(world.broker, EVENTS_TASK, EVENTS_QUEUE)
        try:
            for i in range(SENT):
                event = StoredEvent(type="restricted_area", rule="r", camera=f"not-mine-{i}",
                                    zone="z", line=None, direction=None,
                                    time=datetime.now(UTC).replace(microsecond=0), count=1,
                                    tokens=(), seq=i + 1)
                send(message([event], node_id, "site-a", key))
        finally:
            close()
        deadline, grown = time.monotonic() + 120, 0
        while time.monotonic() < deadline and grown < SENT:
            time.sleep(1)
            grown = world.svc.audit.size() - before
        print(f"{SENT} signed event batches from one rogue node, each refused (a camera not "
              f"enrolled) -> {grown} permanent public audit entries "
              f"({grown / SENT:.2f} per message)")
    finally:
        world.close()
    return 1 if grown >= SENT // 2 else 0


if __name__ == "__main__":
    sys.exit(main())
