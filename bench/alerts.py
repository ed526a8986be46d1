"""Alert latency through a real Redis broker (issue 6): from the frame on which a rule becomes
true to the alert stored at the coordinator.

A camera stream is played in real time (10 frames/s, 640x360): twenty people walk one after
another onto a railway track bed watched by a restricted-area rule. The node's analytics runner
processes each frame as it "arrives"; its event sender signs and publishes batches to Redis; a
`safecity coordinator worker` process stores them in PostgreSQL. For each person, latency is
the alert's arrival time at the coordinator minus the wall-clock time of the frame on which
their foot first stood inside the zone (so it includes the rule's inertia frames).

Target: p95 <= 2 s.

    python bench/alerts.py [--people 20]
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import harness
from sqlalchemy import select

from coordinator.db import Alert
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.runner import CameraAnalyticsRunner
from nodes.analytics.stitching import Stitcher
from nodes.event_sender import BackgroundSender, EventSender, celery_publisher
from nodes.events import EventStore
from nodes.identity import load_identity
from simulation.scripted import Script, render, time_inside, walk
from tests.support.world import World

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")
ZONE = (0.55, 0.78, 0.95, 0.98)
ANALYTICS = CameraAnalytics.model_validate({
    "detector": "motion",  # scripted shapes, not people (simulation.scripted)
    "zones": [{"id": "tracks", "polygon": [[ZONE[0], ZONE[1]], [ZONE[2], ZONE[1]],
                                           [ZONE[2], ZONE[3]], [ZONE[0], ZONE[3]]]}],
    "rules": [{"id": "no-entry", "type": "restricted_area", "zone": "tracks"}]})


def scene(people: int) -> tuple[Script, list[float]]:
    walkers = [walk(i + 1, 3.0 + 4.0 * i, [(0.30, 0.70), (0.75, 0.92)], 0.12)
               for i in range(people)]
    entries = [time_inside(w, ZONE) for w in walkers]
    return Script("alerts", 3.0 + 4.0 * people + 4.0, tuple(walkers), ANALYTICS, ()), entries


def main() -> None:
    args = harness.parser(__doc__)
    args.add_argument("--people", type=int, default=20)
    options = args.parse_args()
    script, entries = scene(options.people)
    frames = [frame for frame, _ in render(script)]
    root = Path(tempfile.mkdtemp(prefix="safecity-bench-alerts-"))
    with harness.scratch_database() as url:
        try:
            measure(World(root, url, f"{REDIS}/6", f"{REDIS}/7"), root, script, entries, frames)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def measure(world: World, root: Path, script: Script, entries: list[float],
            frames: list) -> None:  # type: ignore[type-arg]
    try:
        node = world.add_node("cam", "site-a")
        world.start_coordinator_worker()
        store = EventStore(root / "events.sqlite")
        publish, close = celery_publisher(f"{REDIS}/6")
        sender = EventSender(store, publish, node.node_id, "site-a",
                             load_identity(node.settings.keys_dir).signing)
        runner = CameraAnalyticsRunner("gate", ANALYTICS, script.fps, datetime.now(UTC), store,
                                       Stitcher([]), b"k" * 32)
        shown: dict[int, float] = {}  # frame index -> wall-clock time it was processed
        with BackgroundSender(sender, close):
            started = time.time()
            for index, frame in enumerate(frames):
                due = started + index / script.fps
                time.sleep(max(0.0, due - time.time()))
                shown[index] = time.time()
                runner.process(index, frame)
            deadline = time.time() + 30
            while time.time() < deadline:
                with world.svc.session() as session:
                    alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
                if len(alerts) >= len(entries):
                    break
                time.sleep(0.2)
        if not alerts:
            raise SystemExit(f"no alert arrived: {len(store.all())} events stored, {sender.sent} "
                             "sent\n" + (root / "coordinator-worker.log").read_text())
        latencies = []
        for entry, alert in zip(entries, alerts, strict=False):
            first_inside = shown[math.ceil(entry * script.fps)]
            received = alert.received_at.replace(tzinfo=alert.received_at.tzinfo or UTC)
            latencies.append(received.timestamp() - first_inside)
        print(f"{len(alerts)} alerts for {len(entries)} entries into the zone; "
              f"processing {len(frames) / (time.time() - started):.1f} frames/s wall")
        print(f"frame where the rule becomes true -> alert at the coordinator (Redis, "
              f"PostgreSQL): {harness.latency_summary(latencies)}  (target p95 <= 2 s)")
    finally:
        world.close()


if __name__ == "__main__":
    main()
