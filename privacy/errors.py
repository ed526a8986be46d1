"""Errors of the privacy primitives: models, media, ciphertext and key custody."""

from kernel.errors import SafecityError


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


class IntegrityError(SafecityError):
    """Ciphertext, a wrapped key or a share failed its integrity check (altered or wrong key)."""


class CustodyError(SafecityError):
    """The master key could not be recovered from the custodians' shares."""
