"""Checking the targets an analyst names (plates, face reference ids) at the door."""

from __future__ import annotations

import base64
import binascii
import re

from contract.reference_image import canonical_png
from contract.warrants import Kind
from coordinator.errors import Problem, invalid
from privacy.errors import MediaError
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


def validate_references(targets: list[str], references: dict[str, str] | None) -> dict[str, bytes]:
    """One readable JPEG or PNG per face target; returns each as its plain PNG
    (``contract.reference_image``): the only bytes committed to, shown to the signers, compared
    at query time and sent to the nodes."""
    references = references or {}
    if set(references) != set(targets):
        raise invalid("a face search needs exactly one reference image per target id",
                      "missing_reference")
    images = {}
    for target, encoded in references.items():
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(f"references.{target}: not base64", "invalid_image") from None
        try:
            images[target] = canonical_png(data)
        except MediaError as exc:
            raise invalid(f"references.{target}: {exc}", "invalid_image") from None
    return images
