"""The live view a camera offers the control room: every ``every`` seconds, its newest frame
after redaction (never the raw frame), downscaled to ``width`` pixels, JPEG-encoded, signed with
the node's enrolled key and published through the broker. Best effort and latest only: a
snapshot the broker cannot take is dropped, the next one replaces it (the redacted recording
stays at the site)."""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from contract.live_views import SignedSnapshot, Snapshot
from privacy.signing import SigningKey

log = logging.getLogger(__name__)
Publish = Callable[[dict[str, Any]], None]


def jpeg_of(image: np.ndarray, width: int, quality: int = 70) -> bytes:
    height, wide = image.shape[:2]
    if wide > width:
        image = cv2.resize(image, (width, max(1, round(height * width / wide))),
                           interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return encoded.tobytes()


class LiveViewSender:
    def __init__(self, publish: Publish, node_id: str, site: str, key: SigningKey,
                 every: float = 2.0, width: int = 640,
                 clock: Callable[[], float] = time.monotonic):
        self.publish, self.node_id, self.site, self.key = publish, node_id, site, key
        self.every, self.width, self.clock = every, width, clock
        self._taken: dict[str, float] = {}
        self._latest: dict[str, Snapshot] = {}
        self._lock = threading.Lock()
        self.sent = 0

    def offer(self, camera: str, redacted: np.ndarray) -> bool:
        """Take this redacted frame as the camera's live view if one is due (cheap otherwise)."""
        now = self.clock()
        if now - self._taken.get(camera, -math.inf) < self.every:
            return False
        self._taken[camera] = now
        shot = Snapshot(node_id=self.node_id, site=self.site, camera=camera,
                        time=datetime.now(UTC),
                        jpeg=base64.b64encode(jpeg_of(redacted, self.width)).decode())
        with self._lock:
            self._latest[camera] = shot
        return True

    def send_pending(self) -> int:
        with self._lock:
            pending, self._latest = list(self._latest.values()), {}
        for shot in pending:
            self.publish(SignedSnapshot(snapshot=shot, signature=shot.sign(self.key))
                         .model_dump(mode="json"))
            self.sent += 1
        return len(pending)

    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        while not stop.is_set():
            try:
                self.send_pending()
            except Exception as exc:  # the broker's many failure types: drop, the next replaces
                log.warning("live view not sent: %s", type(exc).__name__)
            stop.wait(interval)
