"""A camera's streams, looked up through its ONVIF device and media services (ONVIF Media Service
Specification 5.2 GetProfiles, 5.15 GetStreamUri: RTP unicast over RTSP), with onvif-zeep-async
and the WSDL files it ships (nothing is fetched).

Requests are authenticated with WS-Security UsernameToken digests (the password never crosses the
network in the clear), the device's clock offset is measured first so that a camera with a wrong
clock still accepts them. Stream URIs are returned without credentials; every error message is
scrubbed of the user name and password.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from kernel.errors import ConfigError
from nodes.errors import CameraLookupError
from nodes.onvif.credentials import CameraCredentials, with_credentials

DEFAULT_PORT = 80
_STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}

# zeep logs whole envelopes (with the UsernameToken digest) at DEBUG: never let them through.
for _name in ("zeep", "onvif", "aiohttp"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class StreamProfile:
    token: str
    name: str
    encoding: str
    width: int
    height: int
    uri: str  # rtsp://..., without credentials


@dataclass(frozen=True)
class DeviceStreams:
    address: str
    manufacturer: str
    model: str
    firmware: str
    profiles: tuple[StreamProfile, ...]

    def choose(self, profile: str | None) -> StreamProfile:
        """The profile with this token or name; the device's first one for None."""
        if not self.profiles:
            raise CameraLookupError(f"onvif://{self.address}", "the camera has no RTSP profile")
        if profile is None:
            return self.profiles[0]
        for candidate in self.profiles:
            if profile in (candidate.token, candidate.name):
                return candidate
        raise CameraLookupError(f"onvif://{self.address}", f"no profile {profile!r}; the "
                                "camera has " + ", ".join(p.token for p in self.profiles))

    def summary(self) -> dict[str, object]:
        return {"address": self.address, "manufacturer": self.manufacturer,
                "model": self.model, "firmware": self.firmware,
                "profiles": [{"token": p.token, "name": p.name, "encoding": p.encoding,
                              "width": p.width, "height": p.height, "uri": p.uri,
                              "source": f"onvif://{self.address}/{p.token}"}
                             for p in self.profiles]}


def split_address(address: str) -> tuple[str, int]:
    """host[:port] -> (host, port); the ONVIF default port is 80."""
    parts = urlsplit(f"//{address}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ConfigError(f"{address!r}: not host[:port]") from None
    if not parts.hostname or parts.username is not None or parts.path not in ("", "/"):
        raise ConfigError(f"{address!r}: not host[:port]")
    return parts.hostname, port


def parse_onvif_uri(uri: str) -> tuple[str, str | None]:
    """``onvif://host[:port][/profile]`` -> ("host:port", profile or None)."""
    rest = uri.removeprefix("onvif://")
    address, _, profile = rest.partition("/")
    host, port = split_address(address)
    return f"{host}:{port}", profile.strip("/") or None


def lookup(address: str, credentials: CameraCredentials | None,
           timeout: float = 10.0) -> DeviceStreams:
    """Ask the camera at ``address`` (host[:port]) for its identity and stream URIs."""
    host, port = split_address(address)
    label = f"onvif://{host}:{port}"
    try:
        return asyncio.run(asyncio.wait_for(_lookup(host, port, credentials), timeout))
    except TimeoutError:
        raise CameraLookupError(label, f"no answer within {timeout:g} s") from None
    except Exception as exc:
        raise CameraLookupError(label, _reason(exc, credentials)) from None


def stream_url(address: str, profile: str | None,
               credentials: CameraCredentials | None) -> str:
    """The URL to open for the camera's ``profile``, with its credentials. A stream the camera
    names on another host is refused: the credentials go to the camera itself only (a device
    answering for the camera could otherwise collect them)."""
    stream = lookup(address, credentials).choose(profile)
    host = split_address(address)[0]
    named = urlsplit(stream.uri).hostname or ""
    if named.lower() != host.lower():
        raise CameraLookupError(f"onvif://{address}", f"the camera names a stream on another "
                                f"host ({named}); credentials are sent to the camera only")
    return with_credentials(stream.uri, credentials)


async def _lookup(host: str, port: int, credentials: CameraCredentials | None) -> DeviceStreams:
    import zeep.exceptions
    from onvif import ONVIFCamera

    # Without credentials the token is empty: a camera that needs none ignores it.
    camera = ONVIFCamera(host, port, credentials.username if credentials else "",
                         credentials.password if credentials else "",
                         no_cache=True, adjust_time=True)
    try:
        await camera.update_xaddrs()
        device = await camera.create_devicemgmt_service()
        info = await device.GetDeviceInformation()
        media = await camera.create_media_service()
        profiles = []
        for profile in await media.GetProfiles() or []:
            try:
                answer = await media.GetStreamUri({"StreamSetup": _STREAM_SETUP,
                                                   "ProfileToken": profile.token})
            except zeep.exceptions.Fault:
                continue  # a profile without an RTSP stream (audio only, metadata...)
            encoder = profile.VideoEncoderConfiguration
            resolution = getattr(encoder, "Resolution", None)
            uri = str(answer.Uri)
            if urlsplit(uri).scheme.lower() not in ("rtsp", "rtsps"):
                continue  # not a stream this node can open
            profiles.append(StreamProfile(
                token=str(profile.token), name=str(profile.Name or ""),
                encoding=str(getattr(encoder, "Encoding", "") or ""),
                width=int(getattr(resolution, "Width", 0) or 0),
                height=int(getattr(resolution, "Height", 0) or 0),
                uri=_without_userinfo(uri)))
        return DeviceStreams(f"{host}:{port}", str(info.Manufacturer or ""),
                             str(info.Model or ""), str(info.FirmwareVersion or ""),
                             tuple(profiles))
    finally:
        await camera.close()


def _without_userinfo(uri: str) -> str:
    parts = urlsplit(uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=netloc).geturl()


def _reason(exc: BaseException, credentials: CameraCredentials | None) -> str:
    import zeep.exceptions

    cause: BaseException = exc
    while cause.__cause__ is not None and not isinstance(cause, zeep.exceptions.Fault):
        cause = cause.__cause__
    if isinstance(cause, zeep.exceptions.Fault):
        codes = " ".join(str(c) for c in (cause.subcodes or []))
        if "NotAuthorized" in codes or "not authorized" in str(cause.message).lower():
            return "the camera refused the credentials"
        text = f"the camera answered with a fault: {cause.message}"
    elif isinstance(cause, OSError) and cause.errno:
        text = os.strerror(cause.errno)
    else:
        text = str(cause) or type(cause).__name__
    text = " ".join(text.split())[:300]
    return credentials.scrub(text) if credentials else text
