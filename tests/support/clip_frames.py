"""Clip frames and refusals as an enrolled node of a test world signs them (the node's own
sender is built on branch clipnode; these stand in for it in the coordinator's tests)."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from contract.evidence import EvidenceBox
from contract.evidence_clips import (
    ClipFrame,
    ClipRefusal,
    ClipRefused,
    SignedClipFrame,
    SignedClipRefusal,
)
from coordinator.evidence import accept_evidence
from nodes.event_sender import evidence_message
from nodes.events import StoredEvidence
from nodes.evidence import snapshot
from nodes.identity import load_identity
from privacy.signing import SigningKey
from tests.support.incident_events import event, send
from tests.support.world import World

BOX = (100, 80, 220, 300)


def frame_jpeg(index: int, width: int = 320, height: int = 180) -> bytes:
    """A redacted frame as a node would cut it: a grey that brightens along the clip."""
    image = np.full((height, width, 3), 60 + 10 * index, np.uint8)
    image[:, : 10 + 20 * index] = 200  # a bar that grows: frames tell apart at a glance
    return snapshot(image, None, width, 30_000).jpeg


def key_of(world: World, name: str = "alpha") -> SigningKey:
    return load_identity(world.nodes[name].settings.keys_dir).signing


def clip_frame(world: World, request_id: str, seq: int, index: int, frames: int,
               start: datetime, camera: str = "gate", event_index: int = 2,
               jpeg: bytes | None = None, key: SigningKey | None = None,
               size: tuple[int, int] = (320, 180), box: tuple[int, int, int, int] | None = None,
               node: str = "alpha", **change: Any) -> dict[str, Any]:
    """Frame ``index`` of a clip of ``frames``, five a second from ``start``; the event's
    frame (``event_index``) boxed."""
    picture = jpeg if jpeg is not None else frame_jpeg(index, *size)
    event = index == event_index
    drawn = box if box is not None else ((40, 30, 120, 150) if event else None)
    enrolled = world.nodes[node]
    fields: dict[str, Any] = dict(
        request_id=request_id, node_id=enrolled.node_id, site=enrolled.settings.site_id,
        camera=camera, seq=seq, index=index, frames=frames, video_frame=100 + 2 * index,
        time=start + timedelta(milliseconds=200 * index), event_frame=event, width=size[0],
        height=size[1], box=EvidenceBox(left=drawn[0], top=drawn[1], right=drawn[2],
                                        bottom=drawn[3]) if drawn else None,
        jpeg_sha256=hashlib.sha256(picture).hexdigest(), jpeg_bytes=len(picture))
    signed = ClipFrame(**{**fields, **change})
    return SignedClipFrame(frame=signed, signature=signed.sign(key or key_of(world, node)),
                           jpeg=base64.b64encode(picture).decode()).model_dump(mode="json")


def refusal(world: World, request_id: str, seq: int, reason: ClipRefused = ClipRefused.NO_CLIP,
            key: SigningKey | None = None, node: str = "alpha") -> dict[str, Any]:
    signed = ClipRefusal(request_id=request_id, node_id=world.nodes[node].node_id, seq=seq,
                         reason=reason, detail="the clip was past its keeping time")
    return SignedClipRefusal(refusal=signed, signature=signed.sign(key or key_of(world, node))
                             ).model_dump(mode="json")


def with_evidence(world: World, time: datetime) -> tuple[int, int, int]:
    """An alert of camera gate with its evidence: (alert id, incident id, the node's seq)."""
    alert = event(time)
    intake = send(world, [alert])
    image = np.full((360, 640, 3), 90, np.uint8)
    jpeg = snapshot(image, (100, 80, 220, 300), 640, 60_000).jpeg
    node = world.nodes["alpha"]
    assert accept_evidence(world.svc, evidence_message(
        StoredEvidence(alert.seq, "gate", time, 640, 360, (100, 80, 220, 300), jpeg),
        node.node_id, "site-a", key_of(world))) is not None
    return intake.alerts[0], intake.incidents[0], alert.seq


def racing_first_looks(world: World, alert_id: int, request_id: str, start: int,
                       tabs: int = 3) -> list[Any]:
    """The operator's tabs fetch the clip's first frame at once, the log's append slowed (a
    fault injected) so that each fetch is inside the first look before any is logged; the
    ``evidence_clip_viewed`` entries logged since ``start``."""
    append = world.svc.log

    def slow(event: Any) -> int:
        if event.outcome == "evidence_clip_viewed":
            time.sleep(0.3)
        return append(event)

    world.svc.log = slow  # type: ignore[method-assign]
    headers = world.as_("operator")
    # warms the router's route cache, which TestClient's threads could find half-built
    assert world.client.get(f"/alerts/{alert_id}/clip", headers=headers).status_code == 200
    gate = threading.Barrier(tabs)
    codes: list[int] = []

    def fetch() -> None:
        gate.wait()
        codes.append(world.client.get(f"/alerts/{alert_id}/clips/{request_id}/0.jpg",
                                      headers=headers).status_code)

    threads = [threading.Thread(target=fetch) for _ in range(tabs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    world.svc.log = append  # type: ignore[method-assign]
    assert codes == [200] * tabs
    return [e for e in world.svc.audit.entries(start, 100)
            if e.record.outcome == "evidence_clip_viewed"]
