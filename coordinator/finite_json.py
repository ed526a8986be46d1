"""JSON the coordinator sends out (server-sent events, webhooks, MQTT) as RFC 8259 allows it:
never ``Infinity``, ``-Infinity`` or ``NaN``, which Python's ``json`` writes by default and a
browser's ``JSON.parse`` (and most receivers) reject. Readings are bounded and finite at intake
(``coordinator.iot_messages``); a non-finite number stored before that (or by a bug) goes out
as ``null`` rather than wedging a feed on one event it can never send."""

from __future__ import annotations

import json
import math
from typing import Any


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def finite_dumps(value: Any) -> str:
    """``json.dumps`` that can never emit a non-finite number (``allow_nan=False`` after
    turning any into ``null``)."""
    return json.dumps(_finite(value), allow_nan=False)
