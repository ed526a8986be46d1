"""Alert latency through a real Redis broker (issues 6 and 23): from the frame on which a rule
becomes true to the alert stored at the coordinator, to its incident on the control room's live
feed, and to its MQTT message at a device.

A camera stream is played in real time (10 frames/s, 640x360): twenty people walk one after
another onto a railway track bed watched by a restricted-area rule. The node's analytics runner
processes each frame as it "arrives"; its event sender signs and publishes batches to Redis; a
`safecity coordinator worker` process stores them in PostgreSQL, groups them into an incident and
publishes each alert to a real mosquitto broker (TLS, password); the stream starts once that worker
answers a ping (its start-up is no person's latency). Meanwhile:

- an operator's HTTP client reads the coordinator app's incident feed (``GET /incidents/stream``,
  server-sent events, the app served by uvicorn on loopback, as the control room page reads it);
- a device subscribed to the events topics (QoS 1) on the broker records what arrives.

For each person, latency is measured from the wall-clock time of the frame on which their foot
first stood inside the zone (so it includes the rule's inertia frames) to: the alert's arrival
time at the coordinator; the first feed event whose incidents hold that many alerts (the k-th
alert is on screen once the incidents count k); the device's receipt of the alert's message.

Then the city's devices (issue 23, inbound IoT): an SOS button and a noise sensor, each with its
own broker user under the documented ACL, alternately press / cross the threshold (a reading
below it, then one above), one message a second. The same worker hears them on its own MQTT
connection, queues them on Redis and takes them in as alerts at the device's position, in
their incidents. Latency is measured from the device's publish to the alert stored at the
coordinator and to the first feed event whose incidents hold that many alerts in all.

Target: p95 <= 2 s for each.

    python bench/alerts.py [--people 20] [--device-messages 20]
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import harness
import httpx
from celery import Celery
from sqlalchemy import select

from coordinator.db import Alert
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.runner import CameraAnalyticsRunner
from nodes.analytics.stitching import Stitcher
from nodes.event_sender import BackgroundSender, EventSender, celery_publisher
from nodes.events import EventStore
from nodes.identity import load_identity
from simulation.scripted import Script, render, time_inside, walk
from tests.support.mosquitto import PASSWORD, Broker, Subscriber, device_client
from tests.support.served import serving
from tests.support.sse import server_events
from tests.support.world import World

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")
ZONE = (0.55, 0.78, 0.95, 0.98)
ANALYTICS = CameraAnalytics.model_validate({
    "detector": "motion",  # scripted shapes, not people (simulation.scripted)
    "zones": [{"id": "tracks", "polygon": [[ZONE[0], ZONE[1]], [ZONE[2], ZONE[1]],
                                           [ZONE[2], ZONE[3]], [ZONE[0], ZONE[3]]]}],
    "rules": [{"id": "no-entry", "type": "restricted_area", "zone": "tracks"}]})
TARGET = "(target p95 <= 2 s)"
DEVICES = [{"id": "sos-1", "kind": "sos_button", "site": "site-a", "latitude": 52.5201,
            "longitude": 13.4049},
           {"id": "noise-1", "kind": "noise", "threshold": 85.0, "site": "site-a",
            "latitude": 52.5210, "longitude": 13.4100}]
DEVICE_PASSWORDS = {"sos-1": "sos-1-bench-password", "noise-1": "noise-1-bench-password"}


def scene(people: int) -> tuple[Script, list[float]]:
    walkers = [walk(i + 1, 3.0 + 4.0 * i, [(0.30, 0.70), (0.75, 0.92)], 0.12)
               for i in range(people)]
    entries = [time_inside(w, ZONE) for w in walkers]
    return Script("alerts", 3.0 + 4.0 * people + 4.0, tuple(walkers), ANALYTICS, ()), entries


def main() -> None:
    args = harness.parser(__doc__)
    args.add_argument("--people", type=int, default=20)
    args.add_argument("--device-messages", type=int, default=20)
    options = args.parse_args()
    script, entries = scene(options.people)
    frames = [frame for frame, _ in render(script)]
    root = Path(tempfile.mkdtemp(prefix="safecity-bench-alerts-"))
    broker = Broker(root / "mosquitto", devices=DEVICE_PASSWORDS)
    broker.start()
    with harness.scratch_database() as url:
        try:
            measure(World(root, url, f"{REDIS}/6", f"{REDIS}/7"), broker, root, script,
                    entries, frames, options.device_messages)
        finally:
            broker.stop()
            shutil.rmtree(root, ignore_errors=True)


class FeedReader:
    """An operator's client on the incident feed, in a thread: when each event arrived, and the
    alerts its incidents then held in all (each incident counted at its latest)."""

    def __init__(self, base: str, token: str) -> None:
        self.seen: list[tuple[float, int]] = []
        self.open = threading.Event()
        self.client = httpx.Client(timeout=None)
        self.thread = threading.Thread(target=self._read, args=(base, token), daemon=True)
        self.thread.start()
        if not self.open.wait(20):
            raise SystemExit("the incident feed did not open")

    def _read(self, base: str, token: str) -> None:
        counts: dict[int, int] = {}
        try:
            with self.client.stream("GET", f"{base}/incidents/stream",
                                    headers={"Authorization": f"Bearer {token}"}) as response:
                response.raise_for_status()
                self.open.set()
                for found in server_events(response.iter_lines()):
                    counts[found.data["id"]] = found.data["alert_count"]
                    self.seen.append((time.time(), sum(counts.values())))
        except httpx.HTTPError:  # closed by close(), or the server went first
            pass

    def close(self) -> None:
        """Hang up, so that the server ends the stream before it stops."""
        self.client.close()
        self.thread.join(10)

    def on_screen(self, k: int) -> float | None:
        """When the feed first showed k alerts in all (the k-th alert's incident updated)."""
        return next((at for at, total in self.seen if total >= k), None)


def mqtt_table(broker: Broker) -> str:
    """The worker's ``[mqtt]`` table (its password from the environment, as documented)."""
    settings = broker.settings(client_id="coordinator-bench")
    return "[mqtt]\n" + "".join(f"{name} = {json.dumps(settings[name])}\n" for name in (
        "host", "port", "ca_file", "username", "client_id", "topic_prefix"))


def iot_table() -> str:
    """The worker's ``[iot]`` registry: the bench's button and sensor."""
    return "[iot]\n" + "".join("[[iot.devices]]\n" + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in d.items()) for d in DEVICES)


def press_and_cross(broker: Broker, feed: FeedReader, before: int,
                    messages: int) -> dict[int, float]:
    """Alternately an SOS press and a noise crossing, one a second; for each message that
    should raise an alert, its ``seq`` (its time in ms) -> the wall-clock time it was sent.
    Waits until the feed shows them all (at most 30 s)."""
    clients = {d: device_client(broker, d, d, p) for d, p in DEVICE_PASSWORDS.items()}
    sent: dict[int, float] = {}
    try:
        for k in range(messages):
            device = DEVICES[k % 2]["id"]
            channel = "sos" if device == "sos-1" else "reading"
            topic = f"city/devices/{device}/{channel}"
            if channel == "reading":  # below the threshold first, so that the next crosses
                clients[device].publish(topic, json.dumps(
                    {"time": datetime.now(UTC).isoformat(), "value": 60.0}), qos=1
                    ).wait_for_publish(5)
                time.sleep(0.2)
            moment = datetime.now(UTC)
            body = {"time": moment.isoformat(), **({"value": 91.5} if channel == "reading"
                                                   else {})}
            at = time.time()
            clients[device].publish(topic, json.dumps(body), qos=1).wait_for_publish(5)
            sent[int(moment.timestamp() * 1000)] = at
            time.sleep(1.0)
        deadline = time.time() + 30
        while time.time() < deadline and feed.on_screen(before + messages) is None:
            time.sleep(0.2)
    finally:
        for client in clients.values():
            client.disconnect()
            client.loop_stop()
    return sent


def worker_consuming(broker_url: str, timeout: float = 120) -> None:
    """Wait until the coordinator worker answers a ping on its broker: the stream starts once it
    takes tasks, so no person's latency holds its start-up (seconds on a loaded machine)."""
    app = Celery("bench-alerts-ping", broker=broker_url)
    deadline = time.monotonic() + timeout
    while not app.control.ping(timeout=1.0):
        if time.monotonic() > deadline:
            raise SystemExit(f"the coordinator worker answered no ping within {timeout:g} s")


def measure(world: World, broker: Broker, root: Path, script: Script, entries: list[float],
            frames: list, device_messages: int) -> None:  # type: ignore[type-arg]
    device = Subscriber(broker, "city/sites/+/cameras/+/events/#")
    try:
        device.ready()
        node = world.add_node("cam", "site-a")
        os.environ["SAFECITY_COORDINATOR_MQTT__PASSWORD"] = PASSWORD  # the worker's
        world.start_coordinator_worker(mqtt_table(broker) + iot_table())
        worker_consuming(f"{REDIS}/6")
        store = EventStore(root / "events.sqlite")
        publish, close = celery_publisher(f"{REDIS}/6")
        sender = EventSender(store, publish, node.node_id, "site-a",
                             load_identity(node.settings.keys_dir).signing)
        runner = CameraAnalyticsRunner("gate", ANALYTICS, script.fps, datetime.now(UTC), store,
                                       Stitcher([]), b"k" * 32)
        shown: dict[int, float] = {}  # frame index -> wall-clock time it was processed
        with serving(world.svc) as base, BackgroundSender(sender, close):
            feed = FeedReader(base, world.token("operator"))
            started = time.time()
            for index, frame in enumerate(frames):
                due = started + index / script.fps
                time.sleep(max(0.0, due - time.time()))
                shown[index] = time.time()
                runner.process(index, frame)
            played = time.time() - started
            deadline = time.time() + 30
            while time.time() < deadline:
                with world.svc.session() as session:
                    alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
                if (len(alerts) >= len(entries) and feed.on_screen(len(alerts)) is not None
                        and len(device.got) >= len(alerts)):
                    break
                time.sleep(0.2)
            camera_alerts = len(alerts)
            sent = press_and_cross(broker, feed, camera_alerts, device_messages)
            feed.close()
        if not alerts:
            raise SystemExit(f"no alert arrived: {len(store.all())} events stored, {sender.sent} "
                             "sent\n" + (root / "coordinator-worker.log").read_text())
        with device.arrived:
            published = {payload["id"]: at for at, (_, payload, _) in zip(
                device.times, device.got, strict=True) if isinstance(payload, dict)}
        stored, on_screen, messaged = [], [], []
        for k, (entry, alert) in enumerate(zip(entries, alerts, strict=False), start=1):
            first_inside = shown[math.ceil(entry * script.fps)]
            received = alert.received_at.replace(tzinfo=alert.received_at.tzinfo or UTC)
            stored.append(received.timestamp() - first_inside)
            if (seen := feed.on_screen(k)) is not None:
                on_screen.append(seen - first_inside)
            if alert.id in published:
                messaged.append(published[alert.id] - first_inside)
        print(f"{len(alerts)} alerts for {len(entries)} entries into the zone; "
              f"processing {len(frames) / played:.1f} frames/s wall")
        print(f"frame where the rule becomes true -> alert at the coordinator (Redis, "
              f"PostgreSQL): {harness.latency_summary(stored)}  {TARGET}")
        report("its incident on the control room's feed (SSE)", on_screen, len(stored))
        report("its MQTT message at a subscribed device (mosquitto, TLS, QoS 1)", messaged,
               len(stored))
        device_report(world, feed, camera_alerts, sent)
    finally:
        device.close()
        world.close()


def device_report(world: World, feed: FeedReader, camera_alerts: int,
                  sent: dict[int, float]) -> None:
    """Device message -> alert stored, and -> its incident on the feed."""
    with world.svc.session() as session:
        rows = session.scalars(select(Alert).where(Alert.device_id.is_not(None))
                               .order_by(Alert.id)).all()
    stored = [r.received_at.replace(tzinfo=r.received_at.tzinfo or UTC).timestamp()
              - sent[r.seq] for r in rows if r.seq in sent]
    ordered = sorted(sent.values())
    on_screen = [seen - at for k, at in enumerate(ordered, start=1)
                 if (seen := feed.on_screen(camera_alerts + k)) is not None]
    print(f"{len(rows)} device alerts for {len(sent)} SOS presses and threshold crossings "
          f"(mosquitto, TLS, a user per device)")
    if stored:
        missing = f" ({len(sent) - len(stored)} of {len(sent)} never arrived)" \
            if len(stored) < len(sent) else ""
        print(f"device message -> alert at the coordinator (MQTT, Redis, PostgreSQL): "
              f"{harness.latency_summary(stored)}  {TARGET}{missing}")
    else:
        print(f"device message -> alert at the coordinator: none arrived of {len(sent)}")
    what = "its incident on the control room's feed (SSE)"
    if not on_screen:
        print(f"device message -> {what}: none arrived of {len(sent)}")
        return
    missing = f" ({len(sent) - len(on_screen)} of {len(sent)} never arrived)" \
        if len(on_screen) < len(sent) else ""
    print(f"device message -> {what}: {harness.latency_summary(on_screen)}  {TARGET}{missing}")


def report(what: str, latencies: list[float], alerts: int) -> None:
    if not latencies:
        print(f"frame where the rule becomes true -> {what}: none arrived of {alerts}")
        return
    missing = f" ({alerts - len(latencies)} of {alerts} never arrived)" \
        if len(latencies) < alerts else ""
    print(f"frame where the rule becomes true -> {what}: "
          f"{harness.latency_summary(latencies)}  {TARGET}{missing}")


if __name__ == "__main__":
    main()
