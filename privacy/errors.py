"""One error hierarchy for safecity.

Every error a user can cause derives from :class:`SafecityError`; its message is a complete,
one-line explanation that the CLI prints as is (never a traceback).
"""

from pydantic import ValidationError


class SafecityError(Exception):
    """Base of every error safecity raises on purpose."""


class ConfigError(SafecityError):
    """A configuration file or option is invalid."""


class ModelError(SafecityError):
    """A pinned model file is missing, altered or cannot be loaded."""


class ModelMissingError(ModelError):
    """The model file is not in the local cache."""


class ModelIntegrityError(ModelError):
    """The cached model file does not match its pinned SHA-256."""


class ModelInstallError(ModelError):
    """The model files could not be fetched from the package registry."""


class MediaError(SafecityError):
    """A video or image cannot be read or written."""


class SourceError(MediaError):
    """A camera source failed (unreachable, dropped, or produced no frames)."""


class CameraLookupError(SourceError):
    """An ONVIF camera could not be asked for its stream (no answer, credentials refused, no
    such profile); ``reason`` is the message without the camera's address."""

    def __init__(self, camera: str, reason: str):
        super().__init__(f"{camera}: {reason}")
        self.reason = reason


class AuditError(SafecityError):
    """The audit log cannot do what was asked (storage, unknown entry, bad request)."""


class VerificationError(SafecityError):
    """A proof, signature, checkpoint, note or receipt does not verify; the message says why."""


class IntegrityError(SafecityError):
    """Ciphertext, a wrapped key or a share failed its integrity check (altered or wrong key)."""


class CustodyError(SafecityError):
    """The master key could not be recovered from the custodians' shares."""


class VaultError(SafecityError):
    """The vault cannot do what was asked (unknown segment, out of retention, bad scope...)."""


def describe(exc: ValidationError) -> str:
    """One line naming each invalid field and why: ``cameras.0.id: String should match...``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()
    )
