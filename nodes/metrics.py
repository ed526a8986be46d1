"""A node process's Prometheus metrics: per camera, frames redacted (Prometheus' rate() gives
frames per second), frames lost to camera reconnections, detection latency and the frames waiting
for redaction; for the node, the privacy budget left and the vault's free disk. Labels are camera
ids and detector names, never anything seen."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
FRAMES = Counter("safecity_camera_frames", "frames redacted and written", ["camera"],
                 registry=REGISTRY)
RECONNECTS = Counter("safecity_camera_reconnects", "times a camera stream was reopened",
                     ["camera"], registry=REGISTRY)
DROPPED = Counter("safecity_camera_dropped_frames",
                  "frames a camera would have sent while its stream was down (gap x rate)",
                  ["camera"], registry=REGISTRY)
DETECTION = Histogram("safecity_detection_seconds", "face and plate detection per keyframe",
                      ["camera"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                      registry=REGISTRY)
BACKLOG = Gauge("safecity_redaction_backlog_frames",
                "frames read from a camera and waiting for their keyframe's detections",
                ["camera"], registry=REGISTRY)


class TimedDetectors:
    """The camera's detectors, each call timed into ``safecity_detection_seconds``."""

    def __init__(self, inner: Any, camera: str):
        self.inner, self.camera = inner, camera

    def detect(self, frame: np.ndarray, plates: bool = True) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.detect(frame, plates)
        finally:
            DETECTION.labels(self.camera).observe(time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class NodeState(Collector):
    """Read when scraped: the budget left in the node's ledger, the vault disk's free bytes."""

    def __init__(self, epsilon_left: Callable[[], float], data_dir: Any):
        self.epsilon_left, self.data_dir = epsilon_left, data_dir

    def collect(self) -> Iterator[Metric]:
        left = GaugeMetricFamily("safecity_node_epsilon_left",
                                 "epsilon one more release may spend here now: the smaller "
                                 "of what is left this period and of the lifetime cap")
        left.add_metric([], self.epsilon_left())
        yield left
        free = GaugeMetricFamily("safecity_node_disk_free_bytes",
                                 "free space on the disk holding the node's data")
        free.add_metric([], shutil.disk_usage(self.data_dir).free)
        yield free
