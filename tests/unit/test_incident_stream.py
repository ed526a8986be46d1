"""The control room's incident feed (``GET /incidents/stream``): an incident opened, joined by an
alert, handled by an operator, each as ``event: incident`` with its revision for id and no more
than the list shows; a client that reconnects with Last-Event-ID gets what changed since; the
feed's permissions are the alert feed's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.incident_events import event, send
from tests.support.served import serving
from tests.support.sse import ServerEvent, server_events
from tests.support.world import World, embedded_world

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)  # the coordinator's clock: the events are in its past
SHOWN = {"id", "revision", "change", "state", "alert_count", "last_seen", "severity",
         "site_id", "camera", "type"}


@pytest.fixture
def city(tmp_path: Path):
    world = embedded_world(tmp_path)
    world.set_time(LATER)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def read(base: str, headers: dict[str, str], steps: list[Any], **params: Any
         ) -> list[ServerEvent]:
    """Incident events of the feed: after it opens and after each event read, the next of
    ``steps`` runs (None: nothing) until they are all done; an incident changed twice before the
    feed reads it would be sent once, as it is then, so each step waits for the last one's."""
    got: list[ServerEvent] = []
    with httpx.stream("GET", f"{base}/incidents/stream", headers=headers, params=params,
                      timeout=10) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        pending = iter(steps)
        step = next(pending)
        if step is not None:
            step()
        for found in server_events(response.iter_lines()):
            got.append(found)
            step = next(pending, StopIteration)
            if step is StopIteration:
                break
            if step is not None:
                step()
    return got


def test_incidents_opened_joined_and_handled_are_streamed_and_resumed(city: World) -> None:
    send(city, [event(T0, zone="old")])  # before the client connects: not sent unless asked
    operator = city.as_("operator")
    with serving(city.svc) as base:
        assert httpx.get(f"{base}/incidents/stream",
                         headers=city.as_("police")).status_code == 403
        assert httpx.get(f"{base}/incidents/stream").status_code == 401
        got = read(base, operator, [
            lambda: send(city, [event(T0 + timedelta(seconds=1)),
                                event(T0 + timedelta(seconds=2), type_="loitering",
                                      camera="lobby", zone="square")]),
            None,  # the second incident of that batch
            lambda: send(city, [event(T0 + timedelta(seconds=5))]),  # joins the first
            lambda: city.client.post("/incidents/2/acknowledge", headers=operator),
        ])
        assert [e.event for e in got] == ["incident"] * 4
        assert all(set(e.data) == SHOWN and e.id == str(e.data["revision"]) for e in got)
        assert [(e.data["id"], e.data["change"], e.data["alert_count"], e.data["state"])
                for e in got] == [(2, "new", 1, "new"), (3, "new", 1, "new"),
                                  (2, "updated", 2, "new"), (2, "updated", 2, "acknowledged")]
        assert [int(e.id or 0) for e in got] == sorted(int(e.id or 0) for e in got)
        assert got[2].data | {"revision": 0} == {
            "id": 2, "revision": 0, "change": "updated", "state": "new", "alert_count": 2,
            "last_seen": "2026-12-06T08:00:05Z", "severity": got[0].data["severity"],
            "site_id": "site-a", "camera": "gate", "type": "restricted_area"}
        assert got[1].data["camera"] == "lobby" and got[1].data["type"] == "loitering"

        # reconnecting after the second event: each incident changed since, once, as it is now
        resumed = read(base, {**operator, "Last-Event-ID": got[1].id or ""}, [None])
        assert [(e.data["id"], e.data["alert_count"], e.data["state"]) for e in resumed] == [
            (2, 2, "acknowledged")]
        # from the start (?after=0): the incident opened before the client first connected
        first = read(base, operator, [None], after=0)
        assert first[0].data["id"] == 1 and first[0].data["change"] == "new"
        bad = httpx.get(f"{base}/incidents/stream",
                        headers={**operator, "Last-Event-ID": "not-a-number"})
        assert bad.status_code == 422
