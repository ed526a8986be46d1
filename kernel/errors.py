"""The root of safecity's error hierarchy, and the errors every layer raises.

Every error a user can cause derives from :class:`SafecityError`; its message is a complete,
one-line explanation that the CLI prints as is (never a traceback): a command ends on an error in
one way only, by raising one, and the root command group (``nodes.cli.SafecityGroup``) prints
``Error: <message>`` on stderr and exits with its ``exit_code``. Each package declares its own
errors beside its code (``privacy.errors``, ``audit.errors``, ``nodes.errors``,
``coordinator.errors``), all below this root.
"""

from pydantic import ValidationError


class SafecityError(Exception):
    """Base of every error safecity raises on purpose."""

    exit_code = 1  # what a command that ends on this error exits with


class UsageError(SafecityError):
    """A command's options are malformed or do not fit together; the message names them."""

    exit_code = 2  # as for the usage errors click finds itself


class ConfigError(SafecityError):
    """A configuration file or option is invalid."""


class VerificationError(SafecityError):
    """A proof, signature, checkpoint, note or receipt does not verify; the message says why."""


def describe(exc: ValidationError) -> str:
    """One line naming each invalid field and why: ``cameras.0.id: String should match...``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()
    )
