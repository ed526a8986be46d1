"""`/alerts/stream` and an alert committed late, on real PostgreSQL with two concurrent intake
transactions: the first stores its alert (the lower id) and commits after the second. A client
that saw the second's alert and resumes from its Last-Event-ID still gets the first: the feed
goes by commit order, not by id. The fault injected is a slow transaction only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator import alert_intake
from coordinator.alert_intake import Intake
from tests.support.incident_events import event, send
from tests.support.served import serving
from tests.support.sse import ServerEvent, server_events
from tests.support.world import World

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def city(tmp_path: Path, postgres_url: str) -> Iterator[World]:
    world = World(tmp_path, postgres_url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                  f"db+sqlite:///{tmp_path / 'results.sqlite'}")
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def first_alert(base: str, headers: dict[str, str], last_event_id: str) -> ServerEvent | None:
    """The first alert the feed sends after ``last_event_id``; None if none comes within 5 s."""
    try:
        with httpx.stream("GET", f"{base}/alerts/stream", timeout=5,
                          headers={**headers, "Last-Event-ID": last_event_id}) as response:
            assert response.status_code == 200
            return next(e for e in server_events(response.iter_lines()) if e.event == "alert")
    except httpx.ReadTimeout:
        return None


def test_an_alert_committed_after_a_newer_one_reaches_a_resuming_client(
        city: World, monkeypatch: pytest.MonkeyPatch) -> None:
    slow, flushed, release = threading.Event(), threading.Event(), threading.Event()
    numbered = alert_intake.number

    def last_step(*args: Any) -> None:  # the transaction's last step, before its commit
        if slow.is_set() and threading.current_thread().name == "late":
            flushed.set()
            assert release.wait(30)
        numbered(*args)

    monkeypatch.setattr(alert_intake, "number", last_step)
    stored: dict[str, Intake] = {}
    slow.set()
    late = threading.Thread(name="late", target=lambda: stored.update(
        late=send(city, [event(NOW, camera="gate", rule="late")])))
    with serving(city.svc) as base:
        operator = city.as_("operator")
        late.start()
        try:
            assert flushed.wait(30)  # its alert has its id; its transaction is still open
            stored["early"] = send(city, [event(NOW, camera="lobby", rule="early")])
            # a client sees the alert committed first (the other is not committed yet)
            early = first_alert(base, operator, "0")
        finally:
            release.set()
            late.join(30)
        [late_id], [early_id] = stored["late"].alerts, stored["early"].alerts
        assert late_id < early_id  # ids in the order asked, commits in the other
        assert early is not None and early.data["id"] == early_id
        # it reconnects from the last event id it saw, and gets the alert committed since
        resumed = first_alert(base, operator, early.id or "")
        assert resumed is not None and resumed.data["id"] == late_id
