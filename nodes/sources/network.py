"""Network camera streams (RTSP and other FFmpeg URLs) with timeouts and reconnection.

A stream that does not answer within ``open_timeout`` or stalls for ``read_timeout`` counts as a
failure; the source then waits ``backoff * 2**n`` seconds (at most 30) and tries again, and gives
up with a :class:`SourceError` after ``attempts`` failures in a row. A frame received resets the
count. Where the URL to open must be found first (an ONVIF camera's stream, credentials read from
a file), ``locate`` finds it again before every attempt, so a camera that moved or changed its
stream is followed. Credentials in the URL never appear in messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import av
import numpy as np

from nodes.errors import CameraLookupError, SourceError
from nodes.sources import Listener

NETWORK_SCHEMES = {"rtsp", "rtsps", "rtmp", "tcp", "udp", "http", "https", "srt"}
MAX_BACKOFF = 30.0


def redact_url(url: str) -> str:
    """The URL without user name and password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class NetworkSource:
    has_sound = False  # only the video stream is decoded

    def __init__(
        self,
        url: str,
        attempts: int = 5,
        backoff: float = 1.0,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        max_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        locate: Callable[[], str] | None = None,
    ):
        self._locate = locate or (lambda: url)
        self.name = redact_url(url)
        self.attempts = attempts
        self.backoff = backoff
        self.timeouts = (open_timeout, read_timeout)
        self.fps = 25.0
        self.reconnects = 0
        self.dropped_frames = 0  # what the camera sent while the stream was down (gap x rate)
        self._max_seconds = max_seconds
        self._sleep = sleep
        self._clock = clock
        self._down_since: float | None = None
        self.listener: Listener | None = None

    @staticmethod
    def _options(url: str) -> dict[str, str]:
        if urlsplit(url).scheme.lower().startswith("rtsp"):
            return {"rtsp_transport": "tcp"}
        return {}

    def frames(self) -> Iterator[np.ndarray]:
        failures = 0
        delivered = 0
        last_error = "no answer"
        limit = None
        while True:
            try:
                url = self._locate()
                container = av.open(url, options=self._options(url), timeout=self.timeouts)
            except CameraLookupError as exc:
                last_error = exc.reason
            except (av.error.FFmpegError, OSError) as exc:
                last_error = _reason(exc)
            else:
                try:
                    stream = container.streams.video[0]
                    rate = stream.average_rate or stream.guessed_rate
                    if rate:
                        self.fps = float(rate)
                    if self._max_seconds is not None:
                        limit = int(self._max_seconds * self.fps)
                    for frame in container.decode(stream):
                        failures = 0
                        if self._down_since is not None:
                            self.dropped_frames += int((self._clock() - self._down_since)
                                                       * self.fps)
                            self._down_since = None
                        delivered += 1
                        yield frame.to_ndarray(format="bgr24")
                        if limit is not None and delivered >= limit:
                            return
                    last_error = "stream ended"
                except (av.error.FFmpegError, OSError, IndexError) as exc:
                    last_error = _reason(exc)
                finally:
                    container.close()
            failures += 1
            if delivered and self._down_since is None:
                self._down_since = self._clock()
            if failures > self.attempts:
                raise SourceError(
                    f"{self.name}: {last_error}; gave up after {failures} "
                    f"attempt{'s' if failures != 1 else ''} "
                    f"({delivered} frames received)"
                )
            self.reconnects += 1
            self._sleep(min(MAX_BACKOFF, self.backoff * 2 ** (failures - 1)))

    def close(self) -> None:
        pass


def _reason(exc: Exception) -> str:
    if isinstance(exc, IndexError):
        return "no video stream"
    return str(getattr(exc, "strerror", None) or exc).split(":")[-1].strip() or type(exc).__name__
