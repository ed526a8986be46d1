"""An honest alert's webhook given up in a second, over a receiver's ten-second blip.

A webhook delivery is tried 8 times, the task retrying after 1, 2, 4 ... 60 s, so a receiver
(a sign's controller, the dispatch system) that is away for a few seconds still gets the alert.
But the delivery task (``DELIVER_TASK``, on the webhooks queue) takes a bare delivery id from
anyone on the broker, and each such task is a real attempt (counted in the row); the task's
``retries`` header, which decides when it gives up, is the sender's too. Delivery ids are
small consecutive integers. So a broker writer with no key sends a handful of tasks for the
newest ids: they use up the 8 attempts while the receiver is down and the last one, claiming
to be the 8th retry, marks the delivery ``failed``. The honest retries then find it failed and
send nothing, and the housekeeping sweep requeues only pending deliveries: the alert never
reaches the receiver.

A real ``safecity coordinator worker`` process on the embedded broker; the node's batch signed
with its key (honest); a local receiver answering 503 for its first 10 s, then 204.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/webhook_attempts_burnt.py
Exit 1 = the delivery ended failed and the receiver never got the alert; 0 = it got it.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from celery import Celery
from sqlalchemy import select

from contract.tasks import DELIVER_TASK, EVENTS_QUEUE, EVENTS_TASK, WEBHOOKS_QUEUE
from coordinator.db import Delivery
from nodes.event_sender import celery_publisher, message
from nodes.events import StoredEvent
from nodes.identity import load_identity
from tests.support.world import World, embedded_world

BLIP = 10.0  # seconds the receiver answers 503


class Receiver(BaseHTTPRequestHandler):
    started: ClassVar[float] = 0.0
    got: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        status = 503 if time.monotonic() - self.started < BLIP else 204
        self.got.append(status)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-webhook-burnt-")),
                           options={"webhook_allowed_networks": ["127.0.0.1/32"]})
    try:
        world.add_node("alpha", "site-a")
        added = world.client.post("/webhooks", headers=world.as_("admin"),
                                  json={"url": url, "types": []})
        assert added.status_code == 201, added.text
        world.start_coordinator_worker('webhook_allowed_networks = ["127.0.0.1/32"]\n')
        time.sleep(8)
        key = load_identity(world.nodes["alpha"].settings.keys_dir).signing
        event = StoredEvent(type="restricted_area", rule="restricted_area-1", camera="gate",
                            zone="platform", line=None, direction=None,
                            time=datetime.now(UTC).replace(microsecond=0), count=1,
                            tokens=("0123456789abcdef",), seq=1)
        Receiver.started = time.monotonic()  # the receiver's blip begins
        send, close = celery_publisher(world.broker, EVENTS_TASK, EVENTS_QUEUE)
        send(message([event], world.nodes["alpha"].node_id, "site-a", key))
        close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not deliveries(world):
            time.sleep(0.2)
        # the attacker: a few tasks for the newest small ids, the last claiming to be retry 7
        attacker = Celery("anyone-on-the-broker", broker=world.broker)
        for delivery_id in (1, 2, 3):
            for attempt in range(9):
                attacker.send_task(DELIVER_TASK, args=[delivery_id], queue=WEBHOOKS_QUEUE,
                                   retries=7 if attempt == 8 else 0)
        time.sleep(BLIP + 40)  # the honest retries (1, 2, 4, 8, 16 s ...) reach the receiver
        states = deliveries(world)
        print(f"receiver away for {BLIP:.0f} s; 27 DELIVER_TASK messages (ids 1-3, no key) -> "
              f"delivery states {states}; the receiver answered {Receiver.got} "
              f"({Receiver.got.count(204)} delivered)")
    finally:
        world.close()
        server.shutdown()
    return 1 if Receiver.got.count(204) == 0 else 0


def deliveries(world: World) -> list[tuple[int, str, int]]:
    with world.svc.session() as session:
        return [(d.id, d.state, d.attempts) for d in session.scalars(select(Delivery))]


if __name__ == "__main__":
    sys.exit(main())
