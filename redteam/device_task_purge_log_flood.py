"""The public audit log grown by a broker writer with no key: one permanent entry per two small
messages.

Two unsigned tasks the worker takes from anyone on the broker (see
``device_task_forged_sos.py`` and ``housekeeping_task_cpu.py``) combine: a device's SOS press
(``DEVICE_TASK``) may be dated any time in the past (only the future is bounded), so one dated
a year ago is stored as an alert already past ``alert_retention_days``; a housekeeping task
(``HOUSEKEEPING_TASK``) right after it purges it, and the purge is logged first: a public
``retention_purge`` entry (``alerts: 1, incidents: 1``) for each pair. Without the injected
housekeeping the beat's own run logs one per ``housekeeping_seconds`` for whatever was sent
in between; with it, the log grows per message.

A real ``safecity coordinator worker`` process with its own MQTT connection to a real
mosquitto broker, the embedded broker for Celery.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/device_task_purge_log_flood.py
Exit 1 = the log grows with the pairs sent; 0 = it does not.
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

from contract.tasks import EVENTS_QUEUE, HOUSEKEEPING_TASK
from coordinator.worker import DEVICE_TASK
from tests.support.mosquitto import PASSWORD, Broker
from tests.support.world import embedded_world

PAIRS = 15
IOT = {"devices": [
    {"id": "sos-1", "kind": "sos_button", "latitude": 52.5201, "longitude": 13.4049,
     "site": "site-a"},
    {"id": "sos-2", "kind": "sos_button", "latitude": 52.5301, "longitude": 13.4149,
     "site": "site-b"},
    {"id": "noise-3", "kind": "noise", "threshold": 85.0, "latitude": 52.5210,
     "longitude": 13.4100, "site": "site-a"}]}


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="rt-device-purge-"))
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
        old = datetime.now(UTC) - timedelta(days=400)
        for i in range(PAIRS):
            pressed = (old + timedelta(seconds=i)).isoformat()
            attacker.send_task(DEVICE_TASK, args=[f"city/devices/sos-{1 + i % 2}/sos",
                                                  json.dumps({"time": pressed})],
                               queue=EVENTS_QUEUE)
            attacker.send_task(HOUSEKEEPING_TASK, queue=EVENTS_QUEUE)
        deadline, purges = time.monotonic() + 240, 0
        while time.monotonic() < deadline and purges < PAIRS:
            time.sleep(2)
            size = world.svc.audit.size()
            purges = sum(1 for e in world.svc.audit.entries(before_log, size - before_log)
                         if e.record.purpose_code == "alert_retention")
        grown = world.svc.audit.size() - before_log
        print(f"{PAIRS} pairs (an SOS press dated 400 days ago + a housekeeping task; "
              f"{2 * PAIRS} messages, no key) -> {grown} audit entries, {purges} of them "
              f"'retention_purge' ({grown / (2 * PAIRS):.2f} entries per message)")
    finally:
        world.close()
        mosquitto.stop()
    return 1 if purges >= PAIRS // 2 else 0


if __name__ == "__main__":
    sys.exit(main())
