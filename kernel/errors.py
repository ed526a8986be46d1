"""The root of safecity's error hierarchy, and the errors every layer raises.

Every error a user can cause derives from :class:`SafecityError`; its message is a complete,
one-line explanation that the CLI prints as is (never a traceback). Each package declares its own
errors beside its code (``privacy.errors``, ``audit.errors``, ``nodes.errors``,
``coordinator.errors``), all below this root.
"""

from pydantic import ValidationError


class SafecityError(Exception):
    """Base of every error safecity raises on purpose."""


class ConfigError(SafecityError):
    """A configuration file or option is invalid."""


class VerificationError(SafecityError):
    """A proof, signature, checkpoint, note or receipt does not verify; the message says why."""


def describe(exc: ValidationError) -> str:
    """One line naming each invalid field and why: ``cameras.0.id: String should match...``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()
    )
