"""A live feed as server-sent events (WHATWG HTML, "Server-sent events"): each item once, in the
order of its id, as ``id:``, ``event:`` and ``data:`` lines. A client that reconnects sends the
last id it saw in ``Last-Event-ID`` (browsers' EventSource do it by themselves), or ``?after=``,
and is sent what it missed; without either it starts at what is newest. The feed polls its
source (the database, shared by every API process) and writes a comment line when idle, so that
proxies keep the connection open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from audit.routes import MAX_INDEX
from coordinator.errors import invalid
from coordinator.finite_json import finite_dumps

POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def resume_point(last_event_id: str | None, after: int | None, what: str) -> int | None:
    """Where a client asked to resume from: its Last-Event-ID (which must be one of this
    feed's ids: a decimal number), else ``after``; None for neither (start at the newest)."""
    if last_event_id is None:
        return after
    if not (last_event_id.isascii() and last_event_id.isdigit()
            and int(last_event_id) <= MAX_INDEX):
        raise invalid(f"Last-Event-ID must be {what}")
    return int(last_event_id)


def feed(request: Request, start: int, event: str,
         newer: Callable[[int], Sequence[tuple[int, dict[str, Any]]]]) -> StreamingResponse:
    """Stream ``(id, data)`` pairs from ``newer(last id sent)`` as ``event`` until the client
    goes. ``newer`` is blocking (a database read): it runs in a thread."""

    async def events() -> AsyncIterator[str]:
        last, idle = start, 0.0
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            fresh = await asyncio.to_thread(newer, last)
            for last, data in fresh:
                yield f"id: {last}\nevent: {event}\ndata: {finite_dumps(data)}\n\n"
            idle = 0.0 if fresh else idle + POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(events(), media_type="text/event-stream", headers=HEADERS)
