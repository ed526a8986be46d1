"""Checking the targets an analyst names (plates, face reference ids) at the door."""

from __future__ import annotations

import re

from coordinator.problems import Problem, invalid
from privacy.legal_basis import Kind
from privacy.plates import PlateError, normalize

_REFERENCE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,127}$")


def validate_targets(kind: Kind, targets: list[str], limit: int) -> list[str]:
    """Normalized, de-duplicated targets in order; a 413 past ``limit``, a 422 naming the
    first malformed one."""
    if len(targets) > limit:
        raise Problem(413, "Too many targets", f"{len(targets)} targets; at most {limit} per "
                      "warrant or query", "too_many_targets")
    if not targets:
        raise invalid("name at least one target", "no_targets")
    result: dict[str, None] = {}
    for position, target in enumerate(targets):
        if kind is Kind.PLATE_WATCHLIST:
            try:
                result[normalize(target)] = None
            except PlateError as exc:
                raise invalid(f"targets.{position}: {exc}", "malformed_plate") from None
        elif _REFERENCE.match(target):
            result[target] = None
        else:
            raise invalid(f"targets.{position}: a face reference id is lower-case letters, "
                          "digits and '-_.:'", "malformed_reference")
    return list(result)
