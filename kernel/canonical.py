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


MAX_INTEGER = 2**53 - 1


def _plain(value: Any) -> bool:
    """Whether ``value`` is made only of exact JSON types within range: the common case, checked
    without building a path for every member (the audit log's verifier parses every entry)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -MAX_INTEGER <= item <= MAX_INTEGER:
                continue
            return False
        if kind is dict:
            if not all(type(key) is str for key in item):
                return False
            stack.extend(item.values())
            continue
        if kind is list or kind is tuple:
            stack.extend(item)
            continue
        return False
    return True


def _check(value: Any, path: str) -> None:
    """Raise naming the first member that has no canonical form (anything ``_plain`` doubts:
    an out-of-range integer, a float, a non-string key, another type; str and int subclasses
    such as enum members pass)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_INTEGER:
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
    if not _plain(value):
        _check(value, "$")
    return _encode(value)


def _encode(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def parse_canonical(data: bytes) -> Any:
    """Parse ``data`` and insist it is already canonical (so its hash is the one signed)."""
    try:
        value = json.loads(data.decode("utf-8"), parse_float=_no_float, parse_int=_integer)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CanonicalJSONError(f"not JSON: {exc}") from None
    except RecursionError:
        raise CanonicalJSONError("not JSON: nested too deeply") from None
    # json.loads gives only exact JSON types with string keys, floats refused and integers
    # range-checked as they are read: re-encoding is the whole remaining check
    if _encode(value) != data:
        raise CanonicalJSONError("JSON is not in canonical form (key order, spacing or escapes)")
    return value


def _integer(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_INTEGER:
        raise CanonicalJSONError(f"integer {text} is outside the interoperable range")
    return value


def _no_float(text: str) -> float:
    raise CanonicalJSONError(f"floating-point number {text} is not allowed in canonical JSON")
