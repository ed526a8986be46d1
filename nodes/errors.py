"""Errors of a camera-site node: its camera sources, its vault and its local stores."""

from kernel.errors import SafecityError
from privacy.errors import MediaError


class SourceError(MediaError):
    """A camera source failed (unreachable, dropped, or produced no frames)."""


class CameraLookupError(SourceError):
    """An ONVIF camera could not be asked for its stream (no answer, credentials refused, no
    such profile); ``reason`` is the message without the camera's address."""

    def __init__(self, camera: str, reason: str):
        super().__init__(f"{camera}: {reason}")
        self.reason = reason


class VaultError(SafecityError):
    """The vault cannot do what was asked (unknown segment, out of retention, bad scope...)."""


class StoreVersionError(SafecityError):
    """A local store's schema is newer than this software knows: written by a later version."""
