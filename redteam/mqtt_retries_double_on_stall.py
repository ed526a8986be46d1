"""An alert's MQTT delivery, retried while the MQTT broker is away, doubles with each stall.

An MQTT delivery is never given up (``PUBLISH_MQTT_TASK``, ``max_retries=None``): while the
city's MQTT broker is away the task retries after at most 60 s, as a new message dated ahead
(``countdown``). On Redis the worker holds such a message unacknowledged until its time, and
a message unacknowledged for ``visibility_timeout`` (60 s) is put back on the queue. While
the worker (``--pool=solo``) is busy for over a minute, the retry it holds is put back and
taken again: two copies run, each retries for ever, each is copied again at the next stall.
A broker writer with no key stalls the worker at will with one small message
(``celery_starmap_amplifies.py``), so each such message doubles the forever-retrying tasks of
every MQTT delivery pending during an outage: 2^k tasks after k messages.

A real ``safecity coordinator worker`` process on Redis (databases 14 and 15, flushed first)
with its MQTT connection to a real mosquitto broker, stopped before the alert; one honest
alert with an MQTT action (``[[actions]] mqtt = true``); then ``STALLS`` ``celery.starmap``
messages of ``RUNS`` housekeeping runs each. Counts the delivery's task messages in Redis
(queued and unacknowledged).

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/mqtt_retries_double_on_stall.py
Exit 1 = the one delivery's retries multiplied; 0 = one task per delivery.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from celery import Celery

from audit.records import Action, Event, LegalBasis
from contract.tasks import (
    EVENTS_QUEUE,
    EVENTS_TASK,
    HOUSEKEEPING_TASK,
    PUBLISH_MQTT_TASK,
    WEBHOOKS_QUEUE,
)
from nodes.event_sender import celery_publisher, message
from nodes.events import StoredEvent
from nodes.identity import load_identity
from tests.support.mosquitto import PASSWORD, Broker
from tests.support.world import World

BROKER, BACKEND = "redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/15"
STALLS, RUNS, HISTORY = 2, 500, 1000


def tasks(store: redis.Redis) -> int:
    """The MQTT delivery task messages on Redis: queued, and held unacknowledged."""
    name = PUBLISH_MQTT_TASK.encode()
    return (sum(name in raw for raw in store.lrange(WEBHOOKS_QUEUE, 0, -1))
            + sum(name in raw for raw in store.hvals("unacked")))


def main() -> int:
    store = redis.Redis.from_url(BROKER)
    store.flushdb()
    root = Path(tempfile.mkdtemp(prefix="rt-mqtt-double-"))
    mosquitto = Broker(root / "mosquitto")
    mosquitto.start()
    os.environ["SAFECITY_COORDINATOR_MQTT__PASSWORD"] = PASSWORD
    mqtt = mosquitto.settings(client_id="coordinator-worker-double")
    world = World(root, f"sqlite:///{root / 'coordinator.sqlite'}", BROKER, BACKEND,
                  options={"mqtt": mqtt, "actions": [{"mqtt": True}]})
    counted: list[int] = []
    try:
        world.add_node("alpha", "site-a")
        actor = world.svc.actor("coordinator", "system", "city")
        for i in range(HISTORY):  # a log to verify, so that housekeeping takes some time
            world.svc.log(Event(actor=actor, action=Action.ACCESS_DENIED,
                                legal_basis=LegalBasis.NONE, outcome=f"history-{i}"))
        table = "".join(f"{k} = {json.dumps(mqtt[k])}\n" for k in (
            "host", "port", "ca_file", "username", "client_id", "topic_prefix",
            "publish_timeout_seconds"))
        world.start_coordinator_worker("[mqtt]\n" + table + "[[actions]]\nmqtt = true\n")
        time.sleep(10)
        mosquitto.stop()  # the city's MQTT broker goes away
        key = load_identity(world.nodes["alpha"].settings.keys_dir).signing
        event = StoredEvent(type="restricted_area", rule="restricted_area-1", camera="gate",
                            zone="platform", line=None, direction=None,
                            time=datetime.now(UTC).replace(microsecond=0), count=1,
                            tokens=(), seq=1)
        send, close = celery_publisher(world.broker, EVENTS_TASK, EVENTS_QUEUE)
        send(message([event], world.nodes["alpha"].node_id, "site-a", key))
        close()
        time.sleep(70)  # its retries reach the 60 s backoff
        counted.append(tasks(store))
        attacker = Celery("anyone-on-the-broker", broker=BROKER)
        job = {"task": HOUSEKEEPING_TASK, "args": [], "kwargs": {}, "options": {},
               "subtask_type": None, "immutable": False}
        for _ in range(STALLS):
            attacker.send_task("celery.starmap", args=[job, [[] for _ in range(RUNS)]],
                               queue=EVENTS_QUEUE)
            time.sleep(150)
            counted.append(tasks(store))
        print(f"one pending MQTT delivery, the MQTT broker away: its task messages on Redis "
              f"{counted[0]} before, then {counted[1:]} after each of {STALLS} stalling "
              "messages (no key)")
    finally:
        world.close()
        mosquitto.stop()
        store.flushdb()
    return 1 if counted and max(counted) > 2 else 0


if __name__ == "__main__":
    sys.exit(main())
