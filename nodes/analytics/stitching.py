"""Following a person or vehicle from one camera to the next inside a site, and the pseudonymous
tokens events carry.

The site's camera graph says which camera a track can reach next and how long that takes. A track
that ends on camera A waits, for the longest travel time, to be claimed by a track starting on a
linked camera B within the travel-time window whose appearance (a colour histogram of its box,
computed in memory at the node) is similar enough; the best such pair shares one site identity.
Tokens are HMAC-SHA256 of that identity under a site key and the current rotation period: they
join events within a site and a period, and cannot be joined across sites or periods (no
cross-site tracking without a warrant).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class CameraLink(BaseModel):
    """``[[camera_links]]`` in the node config: a track leaving ``source`` may reach ``target``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="the camera a track leaves")
    target: str = Field(description="the camera it may reach next")
    min_seconds: float = Field(ge=0, le=3600, description="the fastest the walk can take")
    max_seconds: float = Field(gt=0, le=3600, description="the slowest it can take")

    @model_validator(mode="after")
    def _window(self) -> CameraLink:
        if self.max_seconds < self.min_seconds:
            raise ValueError("max_seconds must not be less than min_seconds")
        return self


def appearance(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A normalized HSV colour histogram of the box (8 hues x 4 saturations x 4 values)."""
    x1, y1, x2, y2 = box
    crop = image[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
    if crop.size == 0:
        return np.zeros(128, np.float32)
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    histogram = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(histogram, None, 1.0, 0.0, cv2.NORM_L1).flatten()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Histogram intersection in [0, 1]."""
    return float(np.minimum(a, b).sum())


@dataclass
class _Exit:
    identity: int
    camera: str
    time: float
    look: np.ndarray


class Stitcher:
    def __init__(self, links: list[CameraLink], threshold: float = 0.6):
        self.links = links
        self.threshold = threshold
        self._pending: list[_Exit] = []
        self._identities = itertools.count(1)
        self.identity: dict[tuple[str, int], int] = {}  # (camera, local track) -> site identity
        self._lock = threading.Lock()  # every camera of the site runs in its own thread

    def track_ended(self, camera: str, track: int, time: float, look: np.ndarray) -> None:
        with self._lock:
            identity = self.identity.pop((camera, track), None)
            if identity is not None:
                self._pending.append(_Exit(identity, camera, time, look))

    def track_started(self, camera: str, track: int, time: float, look: np.ndarray) -> int:
        """The site identity of a new track: a handed-over one, or a fresh one."""
        with self._lock:
            return self._start(camera, track, time, look)

    def _start(self, camera: str, track: int, time: float, look: np.ndarray) -> int:
        horizon = max((link.max_seconds for link in self.links), default=0.0)
        self._pending = [e for e in self._pending if time - e.time <= horizon]
        best, best_score = None, self.threshold
        for candidate in self._pending:
            for link in self.links:
                if (link.source, link.target) != (candidate.camera, camera):
                    continue
                if link.min_seconds <= time - candidate.time <= link.max_seconds:
                    score = similarity(candidate.look, look)
                    if score >= best_score:
                        best, best_score = candidate, score
        if best is not None:
            self._pending.remove(best)
            identity = best.identity
        else:
            identity = next(self._identities)
        self.identity[(camera, track)] = identity
        return identity


def token(key: bytes, identity: int, time: float, rotation_seconds: float = 86400.0) -> str:
    """The pseudonym an event carries: stable within a site and a rotation period only."""
    period = int(time // rotation_seconds)
    return hmac.new(key, f"{period}:{identity}".encode(), hashlib.sha256).hexdigest()[:16]
