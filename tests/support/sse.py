"""Reading a server-sent event stream as a browser's EventSource does (WHATWG HTML, "Server-sent
events", "Interpreting an event stream"): fields ``id``, ``event`` and ``data`` until a blank
line; comment lines (``:``) and ``retry`` are skipped. For tests and benchmarks that read the
coordinator's live feeds over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerEvent:
    id: str | None
    event: str
    data: Any  # the JSON the data lines hold


def server_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """The events in a stream's lines (``httpx.Response.iter_lines()``), as they complete."""
    fields: dict[str, list[str]] = {}
    for line in lines:
        if not line:
            if "data" in fields:
                yield ServerEvent(fields.get("id", [None])[-1],  # type: ignore[list-item]
                                  fields.get("event", ["message"])[-1],
                                  json.loads("\n".join(fields["data"])))
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
