"""Refused pictures, clip messages, event batches and export reports from the broker (red team 2,
redteam/clip_junk_grows_public_log.py): a message no enrolled node signed is only counted and
summed into one audit entry per interval; a message an enrolled node signed is one entry naming
the node. The entries never quote the message's own text."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from audit.records import DENIALS_COUNTED, SIGNED_REFUSALS_COUNTED, Action
from contract.exports import ExportReport, SignedExportReport
from contract.warrants import Window
from coordinator import denials
from coordinator.alert_intake import accept
from coordinator.errors import ReportRejected
from coordinator.evidence import accept_evidence
from coordinator.evidence_clips import accept_clip
from coordinator.export_reports import accept_export
from coordinator.worker import SIGNED_REFUSAL, refused
from nodes.event_sender import message as batch_message
from nodes.events import StoredEvent
from nodes.identity import load_identity
from privacy.signing import SigningKey
from tests.support.clip_frames import clip_frame, refusal
from tests.support.world import World, embedded_world
from tests.unit.test_clip_coordinator import T0, requested

pytestmark = pytest.mark.unit

WRITTEN = "Anything the sender likes: John Smith, 12 Main Street"
CAMERA = "John_Smith.12_Main_Street"  # a name a camera may have, not enrolled


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    world = embedded_world(tmp_path)
    world.set_time(T0 + timedelta(days=1))
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def clip(world: World, message: dict[str, Any]) -> None:
    """What the worker's clip task does with a message (called directly: Celery keeps the
    first task registered under a name for the process, another test module's world)."""
    with pytest.raises(ReportRejected) as refusal:
        accept_clip(world.svc, message)
    refused(world.svc, "evidence_clip_rejected", refusal.value)


def entries_since(world: World, start: int) -> list[tuple[Any, dict[str, Any]]]:
    size = world.svc.audit.size()
    return [(e.record, world.svc.audit.details(e.index))
            for e in world.svc.audit.entries(start, size - start)]


def test_unsigned_messages_are_summed_into_one_entry_per_interval(city: World) -> None:
    _, request_id, seq = requested(city)
    before = city.svc.audit.size()
    junk: list[dict[str, Any]] = [
        {"refusal": {WRITTEN: 1}},  # key names of the sender's choosing
        {"refusal": {"request_id": request_id}},
        refusal(city, request_id, seq, key=SigningKey.generate()),  # a forged signature
        clip_frame(city, request_id, seq, 0, 2, T0, key=SigningKey.generate()),
        {WRITTEN: "x"},
    ]
    for message in junk:
        clip(city, message)
    with pytest.raises(ReportRejected) as evidence:
        accept_evidence(city.svc, {WRITTEN: "x"})
    refused(city.svc, "evidence_rejected", evidence.value)
    assert city.svc.audit.size() == before  # nothing written one by one
    assert denials.pending(city.svc) == {(denials.OTHER, "evidence_clip_rejected"): 5,
                                         (denials.OTHER, "evidence_rejected"): 1}
    city.set_time(T0 + timedelta(days=1, seconds=city.settings.denial_interval_seconds))
    assert len(denials.flush_due(city.svc)) == 1
    ((record, details),) = entries_since(city, before)
    assert record.outcome == DENIALS_COUNTED and record.counts_returned == 6
    assert WRITTEN.encode() not in b"".join(details.values())


def test_signed_refused_messages_are_one_entry_naming_their_node_per_interval(
        city: World) -> None:
    """Red team 3 (redteam/rogue_node_signed_refusals_flood.py): a node's signed refusals were
    one permanent entry each; now tallied per node per interval, one entry naming the node with
    the counts per outcome, never the messages' text."""
    _, request_id, seq = requested(city)
    before = city.svc.audit.size()
    progressive = cv2.imencode(".jpg", np.zeros((180, 320, 3), np.uint8),
                               [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    for message in (clip_frame(city, request_id, seq, 0, 2, T0, jpeg=progressive),
                    clip_frame(city, request_id, seq, 0, 2, T0, camera=CAMERA)) * 5:
        clip(city, message)
    node_id = city.nodes["alpha"].node_id
    assert city.svc.audit.size() == before  # nothing written one by one
    assert denials.pending(city.svc) == {(denials.NODE + node_id, "evidence_clip_rejected"): 10}
    city.set_time(T0 + timedelta(days=1, seconds=city.settings.denial_interval_seconds))
    assert len(denials.flush_due(city.svc)) == 1
    ((record, details),) = entries_since(city, before)
    assert (record.action, record.outcome, record.counts_returned) == (
        Action.ACCESS_DENIED, SIGNED_REFUSALS_COUNTED, 10)
    decoded = {k: json.loads(v) for k, v in details.items()}
    assert {k: decoded[k] for k in ("node", "reason", "refused")} == {
        "node": node_id, "reason": SIGNED_REFUSAL, "refused": {"evidence_clip_rejected": 10}}
    assert CAMERA.encode() not in b"".join(details.values())
    assert denials.pending(city.svc) == {}


def test_a_picture_not_the_signed_one_names_no_node(city: World) -> None:
    """Red team 3 (redteam/evidence_altered_picture_blamed.py): the picture travels unsigned
    beside its signed digest; a swapped one is no message of the node, only counted."""
    _, request_id, seq = requested(city)
    frame = clip_frame(city, request_id, seq, 0, 2, T0)
    other = cv2.imencode(".jpg", np.full((180, 320, 3), 7, np.uint8))[1].tobytes()
    before = city.svc.audit.size()
    clip(city, {**frame, "jpeg": base64.b64encode(other).decode()})
    assert city.svc.audit.size() == before
    assert denials.pending(city.svc) == {(denials.OTHER, "evidence_clip_rejected"): 1}


def test_event_batches_and_export_reports_name_their_node_only_when_it_signed(
        city: World) -> None:
    """``ReportRejected.node`` on the events and export-report paths: set by the checks after
    the enrolled key verified the message, never before (the worker's ``refused`` trusts it)."""
    node = city.nodes["alpha"]
    own, stranger = load_identity(node.settings.keys_dir).signing, SigningKey.generate()
    now = city.clock()
    later = StoredEvent(type="restricted_area", rule="r-1", camera="gate", zone="z", line=None,
                        direction=None, time=now + timedelta(days=1), count=1,
                        tokens=("0123456789abcdef",), seq=1)
    export = ExportReport(
        export_id=str(uuid.uuid4()), node_id=node.node_id, site="site-a", warrant_id="no-such",
        warrant_sha256="0" * 64, cameras=("gate",),
        window=Window(start=now - timedelta(hours=1), end=now), segments=1,
        recipient="city-pd", export_sha256="0" * 64, exported_at=now)

    def signer(take: Any, body: Any) -> str | None:
        with pytest.raises(ReportRejected) as refusal:
            take(city.svc, body)
        return refusal.value.node

    assert signer(accept, batch_message([later], node.node_id, "site-a", own)) == node.node_id
    assert signer(accept, batch_message([later], node.node_id, "site-a", stranger)) is None
    assert signer(accept, {"batch": {WRITTEN: 1}}) is None
    assert signer(accept_export, SignedExportReport(
        report=export, signature=export.sign(own)).model_dump(mode="json")) == node.node_id
    assert signer(accept_export, SignedExportReport(
        report=export, signature=export.sign(stranger)).model_dump(mode="json")) is None
    assert signer(accept_export, {"report": {WRITTEN: 1}}) is None
