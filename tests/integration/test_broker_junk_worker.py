"""Junk event batches and export reports on the broker, taken by a real `safecity coordinator
worker` process: anyone who can publish to the events queue (no node key) must not grow the
public audit log one entry per message, nor write their own text into it. Unverified messages
are counted with the anonymous denials (one entry per interval for all of them); a message an
enrolled node signed and the coordinator refused is one entry naming the node, in fixed words;
the worker's own log keeps which check failed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit.records import Action
from contract.exports import ExportReport, SignedExportReport
from contract.tasks import EVENTS_QUEUE, EVENTS_TASK, EXPORT_REPORT_TASK
from contract.warrants import Window
from coordinator import denials
from coordinator.worker import SIGNED_REFUSAL
from nodes.event_sender import celery_publisher, message
from nodes.events import StoredEvent
from nodes.identity import load_identity
from privacy.signing import SigningKey
from tests.support.world import World, embedded_world

WRITTEN = "anything the sender likes: John Smith, 12 Main Street"
OUTCOMES = ("events_rejected", "export_report_rejected")


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def event(camera: str = "gate") -> StoredEvent:
    return StoredEvent(type="restricted_area", rule="restricted_area-1", camera=camera,
                       zone="platform", line=None, direction=None,
                       time=datetime.now(UTC).replace(microsecond=0), count=1,
                       tokens=("0123456789abcdef",), seq=1)


def report(node_id: str, key: SigningKey) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = ExportReport(
        export_id=str(uuid.uuid4()), node_id=node_id, site="site-a", warrant_id="no-such",
        warrant_sha256="0" * 64, cameras=("gate",),
        window=Window(start=now - timedelta(hours=1), end=now), segments=1,
        recipient="city-pd", export_sha256="0" * 64, exported_at=now)
    return SignedExportReport(report=body, signature=body.sign(key)).model_dump(mode="json")


def junk(world: World) -> tuple[list[Any], list[Any]]:
    """Event batches and export reports no enrolled node signed: key names of the sender's
    choosing, not an object at all, an unknown node, a forged signature."""
    node_id, stranger = world.nodes["alpha"].node_id, SigningKey.generate()
    batches = [{WRITTEN: 1}, {"batch": {WRITTEN: WRITTEN}, "signature": "x"}, "not json {",
               message([event()], "ghost-node", "site-a", stranger),
               message([event()], node_id, "site-a", stranger)]
    reports = [{WRITTEN: 1}, {"report": {WRITTEN: WRITTEN}, "signature": "x"}, "not json {",
               report("ghost-node", stranger), report(node_id, stranger)]
    return batches, reports


def taken(world: World, start: int) -> tuple[list[tuple[Any, dict[str, Any]]], int]:
    """The refusal entries since ``start`` and the refusals counted, not yet logged."""
    entries = [(e.record, {k: json.loads(v) for k, v in world.svc.audit.details(e.index).items()})
               for e in world.svc.audit.entries(start, world.svc.audit.size() - start)
               if e.record.outcome in OUTCOMES]
    counted = sum(n for (_, outcome), n in denials.pending(world.svc).items()
                  if outcome in OUTCOMES)
    return entries, counted


def test_junk_on_the_events_queue_is_counted_and_signed_refusals_name_their_node(
        city: World) -> None:
    node_id = city.nodes["alpha"].node_id
    key = load_identity(city.nodes["alpha"].settings.keys_dir).signing
    batches, reports = junk(city)
    signed = [(EVENTS_TASK, message([event("roof")], node_id, "site-a", key)),
              (EXPORT_REPORT_TASK, report(node_id, key))]
    start = city.svc.audit.size()
    send_batch, close_batches = celery_publisher(city.broker, EVENTS_TASK, EVENTS_QUEUE)
    send_report, close_reports = celery_publisher(city.broker, EXPORT_REPORT_TASK, EVENTS_QUEUE)
    try:
        for body in batches:
            send_batch(body)
        for body in reports:
            send_report(body)
        send_batch(signed[0][1])
        send_report(signed[1][1])
        city.start_coordinator_worker()
        total = len(batches) + len(reports) + len(signed)
        deadline = time.monotonic() + 120
        while sum(len(x) if isinstance(x, list) else x for x in taken(city, start)) < total:
            assert time.monotonic() < deadline, (city.root / "coordinator-worker.log").read_text()
            time.sleep(0.5)
    finally:
        close_batches()
        close_reports()
    entries, counted = taken(city, start)
    unsigned = len(batches) + len(reports)
    # before the fix: 12 messages, 12 entries (none naming the node), 4 quoting WRITTEN
    assert (len(entries), counted) == (len(signed), unsigned), (len(entries), counted)
    assert denials.pending(city.svc) == {(denials.OTHER, "events_rejected"): len(batches),
                                         (denials.OTHER, "export_report_rejected"): len(reports)}
    assert sorted((r.action, r.outcome) for r, _ in entries) == [
        (Action.ACCESS_DENIED, outcome) for outcome in OUTCOMES]
    for _, details in entries:
        assert details == {"node": node_id, "reason": SIGNED_REFUSAL}
    # the interval over: one entry for all of them, without the sender's text
    city.set_time(datetime.now(UTC) + timedelta(seconds=city.settings.denial_interval_seconds))
    (index,) = denials.flush_due(city.svc)
    assert city.svc.audit.size() == start + len(signed) + 1
    assert WRITTEN.encode() not in b"".join(city.svc.audit.details(index).values())
    log = (city.root / "coordinator-worker.log").read_text(errors="replace")
    assert "not an event batch" in log and "not an export report" in log
    assert "cameras not enrolled" in log and "no-such is not a registered warrant" in log
