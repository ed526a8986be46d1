"""Errors of the audit log."""

from kernel.errors import SafecityError


class AuditError(SafecityError):
    """The audit log cannot do what was asked (storage, unknown entry, bad request)."""
