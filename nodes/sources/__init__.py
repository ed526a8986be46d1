"""Where a camera's frames come from: files, network streams, still images, generated scenes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from nodes.config import CameraConfig, NodeSettings
    from nodes.onvif.credentials import CameraCredentials


Listener = Callable[[np.ndarray, int], None]  # mono float32 samples and their rate


class FrameSource(Protocol):
    """A camera's frames, BGR, in order. ``fps`` is known once the source is open (a network
    stream says its rate when it is reached, before its first frame)."""

    name: str  # for messages: never holds credentials
    fps: float
    reconnects: int  # how often the source was opened again after a failure, so far
    dropped_frames: int  # what the camera sent while it was unreachable, so far (gap x rate)
    listener: Listener | None  # where the sound goes, for a source that has some

    @property
    def has_sound(self) -> bool: ...

    def frames(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


def plugged_schemes() -> dict[str, EntryPoint]:
    """Sources installed as ``safecity.sources`` entry points, by URI scheme: the generated
    cameras of ``simulation`` (``synthetic:``) reach a node this way, so that no node module
    imports the simulation."""
    return {ep.name: ep for ep in entry_points(group="safecity.sources")}


def open_source(uri: str, reconnect_attempts: int = 5, backoff_seconds: float = 1.0,
                max_seconds: float | None = None,
                credentials: CameraCredentials | None = None) -> FrameSource:
    """Open ``uri``: ``synthetic:key=value,...``, ``rtsp://`` (or rtsps, tcp, http, udp),
    ``onvif://host[:port][/profile]`` (the stream the camera names), an image file, or a video
    file. ``credentials`` are the camera's, for network sources."""
    from pathlib import Path

    from nodes.errors import SourceError
    from nodes.media import is_image
    from nodes.onvif.credentials import with_credentials
    from nodes.sources.files import ImageSource, VideoFileSource
    from nodes.sources.network import NETWORK_SCHEMES, NetworkSource

    scheme = uri.split(":", 1)[0]
    if scheme in plugged_schemes():
        return plugged_schemes()[scheme].load()(uri, max_seconds)
    if uri.startswith("onvif://"):
        from nodes.onvif.streams import parse_onvif_uri, stream_url

        address, profile = parse_onvif_uri(uri)
        return NetworkSource(uri, reconnect_attempts, backoff_seconds, max_seconds=max_seconds,
                             locate=lambda: stream_url(address, profile, credentials))
    if uri.split("://", 1)[0].lower() in NETWORK_SCHEMES and "://" in uri:
        url = with_credentials(uri, credentials)
        return NetworkSource(uri, reconnect_attempts, backoff_seconds, max_seconds=max_seconds,
                             locate=lambda: url)
    path = Path(uri)
    if not path.exists():  # not there (yet): a camera that cannot be reached, retried
        raise SourceError(f"{path}: no such file")
    if is_image(path):
        return ImageSource(path)
    return VideoFileSource(path, max_seconds)


def open_camera(settings: NodeSettings, camera: CameraConfig) -> FrameSource:
    """Open one configured camera, with its credentials file if it has one."""
    from nodes.onvif.credentials import read_credentials

    credentials = read_credentials(camera.credentials_file) if camera.credentials_file else None
    return open_source(camera.source, settings.reconnect_attempts,
                       settings.reconnect_backoff_seconds, camera.max_seconds, credentials)
