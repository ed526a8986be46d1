"""Canonical JSON for anything that is hashed or signed.

RFC 8785 style: object keys sorted by code point, no insignificant whitespace, UTF-8, and no
floating-point numbers at all (their canonical form is where JCS implementations disagree; amounts
are integers or decimal strings here). The same value always gives the same bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from kernel.errors import SafecityError


class CanonicalJSONError(SafecityError):
    """The value cannot be put in canonical form (a float, a non-string key, a cycle...)."""


def _check(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise CanonicalJSONError(f"{path}: integer {value} is outside the interoperable range")
        return
    if isinstance(value, float):
        kind = "non-finite number" if not math.isfinite(value) else "floating-point number"
        raise CanonicalJSONError(f"{path}: {kind} {value!r} is not allowed in canonical JSON")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{path}: object key {key!r} is not a string")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise CanonicalJSONError(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 encoding of ``value``."""
    _check(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def parse_canonical(data: bytes) -> Any:
    """Parse ``data`` and insist it is already canonical (so its hash is the one signed)."""
    try:
        value = json.loads(data.decode("utf-8"), parse_float=_no_float)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CanonicalJSONError(f"not JSON: {exc}") from None
    except RecursionError:
        raise CanonicalJSONError("not JSON: nested too deeply") from None
    if canonical_json(value) != data:
        raise CanonicalJSONError("JSON is not in canonical form (key order, spacing or escapes)")
    return value


def _no_float(text: str) -> float:
    raise CanonicalJSONError(f"floating-point number {text} is not allowed in canonical JSON")
