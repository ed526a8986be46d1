"""Hypothesis strategies for outside input: random values, and valid documents mutated a
little (which reach deeper than noise). ``rejected_or_fine`` is the property every parser must
have: it returns, or raises one of safecity's own errors with a reason, nothing else."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from kernel.errors import SafecityError
from tests.support import tally

# CI runs the same cases every time (a red build is reproducible); a developer's run explores.
REPEATABLE = bool(os.environ.get("CI"))
FUZZ = settings(max_examples=300, deadline=None, database=None, derandomize=REPEATABLE,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=20,
)


def rejected_or_fine(call: Callable[[], Any], rejections: tuple[type[BaseException], ...] = (
        SafecityError,)) -> Any:
    tally.add("fuzz cases")
    try:
        return call()
    except rejections as exc:
        assert str(exc), "a rejection must say why"
        return exc


@st.composite
def mutated(draw, text: str):  # type: ignore[no-untyped-def]
    """``text`` with a few characters flipped, dropped or inserted, or cut short."""
    data = list(text)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "drop", "insert", "cut"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.characters())
        elif op == "drop" and data:
            del data[at]
        elif op == "insert":
            data.insert(at, draw(st.sampled_from(["\n", " ", "+", "\u2014", "=", "A", "\x00"])))
        else:
            data = data[:at]
    return "".join(data)


@st.composite
def mutated_bytes(draw, data: bytes, within: int | None = None):  # type: ignore[no-untyped-def]
    """``data`` with a few bytes changed (in its first ``within`` bytes: a header), or cut."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        span = min(len(out), within or len(out))
        at = draw(st.integers(0, max(0, span - 1)))
        op = draw(st.sampled_from(["set", "set", "drop", "cut"]))
        if op == "set" and at < len(out):
            out[at] = draw(st.integers(0, 255))
        elif op == "drop" and at < len(out):
            del out[at]
        elif op == "cut":
            out = out[:draw(st.integers(0, len(out)))]
    return bytes(out)


@st.composite
def mutated_json(draw, value):  # type: ignore[no-untyped-def]
    """A copy of the JSON ``value`` with one member (at any depth) replaced or removed."""
    document = json.loads(json.dumps(value))
    target = document
    path = []
    while isinstance(target, (dict, list)) and target and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(target) if isinstance(target, dict)
                                   else list(range(len(target)))))
        path.append((target, key))
        target = target[key]
    if path:
        parent, key = path[-1]
        if draw(st.booleans()):
            parent[key] = draw(json_values)
        else:
            del parent[key]
    return document
