"""Junk event batches and export reports on the broker, taken by a real `safecity coordinator
worker` process: anyone who can publish to the events queue (no node key) must not grow the
public audit log one entry per message, nor write their own text into it. Unverified messages
are counted with the anonymous denials (one entry per interval for all of them); a message an
enrolled node signed and the coordinator refused is counted under the node (one entry naming it
per interval, in fixed words, red team 3);
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

from audit.records import SIGNED_REFUSALS_COUNTED, Action
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
    # before the fix: 12 messages, 12 entries (none naming the node), 4 quoting WRITTEN; until
    # red team 3 each signed refusal was an entry of its own: now tallied under its node
    assert (len(entries), counted) == (0, unsigned + len(signed)), (len(entries), counted)
    mine = denials.NODE + node_id
    assert denials.pending(city.svc) == {(denials.OTHER, "events_rejected"): len(batches),
                                         (denials.OTHER, "export_report_rejected"): len(reports),
                                         (mine, "events_rejected"): 1,
                                         (mine, "export_report_rejected"): 1}
    assert city.svc.audit.size() == start
    # the interval over: one entry for the anonymous ones, without the sender's text, and one
    # naming the node with its counts
    city.set_time(datetime.now(UTC) + timedelta(seconds=city.settings.denial_interval_seconds))
    anonymous, named = denials.flush_due(city.svc)
    assert city.svc.audit.size() == start + 2
    for index in (anonymous, named):
        assert WRITTEN.encode() not in b"".join(city.svc.audit.details(index).values())
    (record,) = [e.record for e in city.svc.audit.entries(named, 1)]
    assert (record.action, record.outcome, record.counts_returned) == (
        Action.ACCESS_DENIED, SIGNED_REFUSALS_COUNTED, len(signed))
    details = {k: json.loads(v) for k, v in city.svc.audit.details(named).items()}
    assert (details["node"], details["reason"], details["refused"]) == (
        node_id, SIGNED_REFUSAL, dict.fromkeys(OUTCOMES, 1))
    log = (city.root / "coordinator-worker.log").read_text(errors="replace")
    assert "not an event batch" in log and "not an export report" in log
    assert "cameras not enrolled" in log and "no-such is not a registered warrant" in log
