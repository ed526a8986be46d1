"""Canonical JSON: the fast path for plain values agrees with the full check, and parsing refuses
anything whose bytes are not the canonical ones."""

from __future__ import annotations

import enum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.canonical import (
    MAX_INTEGER,
    CanonicalJSONError,
    _check,
    _plain,
    canonical_json,
    parse_canonical,
)

scalars = st.none() | st.booleans() | st.text(max_size=8) | st.integers(-2**60, 2**60)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=20)


def full_check_passes(value: object) -> bool:
    try:
        _check(value, "$")
    except CanonicalJSONError:
        return False
    return True


@given(values)
def test_the_fast_path_never_passes_what_the_full_check_refuses(value: object) -> None:
    if _plain(value):
        assert full_check_passes(value)
    if full_check_passes(value):
        data = canonical_json(value)
        assert parse_canonical(data) == value
        assert canonical_json(parse_canonical(data)) == data
    else:
        with pytest.raises(CanonicalJSONError):
            canonical_json(value)


class Colour(enum.StrEnum):
    RED = "red"


def test_members_of_str_and_int_subclasses_are_encoded_as_their_values() -> None:
    assert canonical_json({"c": Colour.RED, "n": True}) == b'{"c":"red","n":true}'


@pytest.mark.parametrize(("value", "named"), [
    ({"a": [1, 2.5]}, "$.a[1]: floating-point number 2.5"),
    ({"a": {"b": MAX_INTEGER + 1}}, "$.a.b: integer"),
    ({"a": {1: "x"}}, "$.a: object key 1 is not a string"),
    ({"a": b"x"}, "$.a: bytes is not a JSON value"),
])
def test_a_value_with_no_canonical_form_is_refused_naming_where(value: object,
                                                                named: str) -> None:
    with pytest.raises(CanonicalJSONError, match=named.replace("[", r"\[").replace("]", r"\]")
                       .replace(".", r"\.").replace("$", r"\$")):
        canonical_json(value)


@pytest.mark.parametrize(("data", "why"), [
    (b'{"b":1,"a":2}', "not in canonical form"),
    (b'{"a": 1}', "not in canonical form"),
    (b'{"a":-0}', "not in canonical form"),
    (b'{"a":1.0}', "floating-point number 1.0"),
    (b'{"a":9007199254740992}', "outside the interoperable range"),
    (b'{"a":', "not JSON"),
    (b'\xff', "not JSON"),
])
def test_parsing_refuses_bytes_that_are_not_the_canonical_ones(data: bytes, why: str) -> None:
    with pytest.raises(CanonicalJSONError, match=why):
        parse_canonical(data)
