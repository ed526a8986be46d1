"""A camera that cannot be reached is retried, not given up: the node keeps running its other
cameras while this one waits, with exponential back-off (capped like a network source's own
reconnection, :data:`nodes.sources.network.MAX_BACKOFF`), and its health says it is down and
why. A camera whose source is there but broken (a corrupt file, a bad configuration) fails as
before: retrying cannot fix it.

"Cannot be reached" is a :class:`~nodes.errors.SourceError`: a network stream that gave up after
its own reconnection attempts, an ONVIF camera that did not answer, a video file not there (yet).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from nodes.camera import CameraReport
from nodes.sources.network import MAX_BACKOFF

log = logging.getLogger(__name__)

RUNNING, STOPPED = "ok", "stopped"


class CameraStates:
    """Each camera's state as health reports it: ``ok`` while it runs, ``down: <why>; retrying
    in N s`` while it waits to be tried again, ``stopped`` once its run has ended."""

    def __init__(self, cameras: list[str]) -> None:
        self._lock = threading.Lock()
        self._states = dict.fromkeys(cameras, RUNNING)

    def set(self, camera: str, state: str) -> None:
        with self._lock:
            self._states[camera] = state

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._states)


def delay(failures: int, backoff: float) -> float:
    """Seconds to wait after ``failures`` unreachable runs in a row: ``backoff * 2**(n-1)``,
    at most :data:`MAX_BACKOFF`."""
    return float(min(MAX_BACKOFF, backoff * 2 ** (failures - 1)))


def watch(camera: str, run: Callable[[], CameraReport], states: CameraStates, backoff: float,
          sleep: Callable[[float], None] = time.sleep) -> CameraReport:
    """Run ``camera`` until a run ends other than unreachable; wait and retry while it is."""
    failures = 0
    while True:
        states.set(camera, RUNNING)
        report = run()
        if not report.unreachable:
            states.set(camera, STOPPED)
            return report
        failures += 1
        wait = delay(failures, backoff)
        states.set(camera, f"down: {report.error}; retrying in {wait:g} s")
        log.warning("camera %s is down (%s); retrying in %g s (attempt %d)", camera,
                    report.error, wait, failures + 1)
        sleep(wait)
