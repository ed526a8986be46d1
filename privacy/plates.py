"""Licence plates as the nodes store and match them: normalized text, then a keyed hash.

A plain hash of a plate is reversible by enumerating the plate space (a UK-format space falls in
under an hour on one core), so a node stores only HMAC-SHA256 under a key it never shares.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from kernel.errors import SafecityError

MIN_LENGTH, MAX_LENGTH = 2, 10
_SEPARATORS = re.compile(r"[\s\-.·_]+")
_PLATE = re.compile(r"^[A-Z0-9]+$")
# Characters OCR and witnesses confuse; both sides fold them the same way before hashing.
_FOLD = str.maketrans({"O": "0", "Q": "0", "I": "1"})


class PlateError(SafecityError, ValueError):
    """Text that cannot be a licence plate."""


def normalize(text: str) -> str:
    """``"ab 12-cde"`` -> ``"AB12CDE"``; raise :class:`PlateError` for anything else."""
    plate = _SEPARATORS.sub("", text.strip().upper())
    if not _PLATE.match(plate) or not MIN_LENGTH <= len(plate) <= MAX_LENGTH:
        shown = text if len(text) <= 24 else text[:24] + "..."
        raise PlateError(f"{shown!r} is not a plate: {MIN_LENGTH}-{MAX_LENGTH} letters and "
                         "digits, spaces and hyphens allowed")
    return plate


def keyed_hash(key: bytes, plate: str) -> bytes:
    """HMAC-SHA256 of the normalized plate, confusable characters folded."""
    if len(key) < 32:
        raise ValueError("the plate key must be at least 32 bytes")
    return hmac.new(key, normalize(plate).translate(_FOLD).encode(), hashlib.sha256).digest()
