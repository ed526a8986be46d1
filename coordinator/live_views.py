"""The control room's live views: the newest redacted snapshot of each camera, taken off the
broker from the enrolled node that signed it, checked to be a picture of sane size, and kept
as one file per camera (the newest replaces the last; nothing older is kept).

Each operator's look at a camera's live view is an access, logged (``consultation``, outcome
``live_view_opened``; the node and camera sealed for the DPO) when the look opens, not on each
fetch: the wall and the control room fetch a camera's picture every few seconds while it is
shown. A fetch within ``live_view_look_seconds`` of the same operator's last fetch of the same
camera continues the look; a longer pause, or a look going on past
``live_view_look_max_seconds``, opens a new one. The look is logged before the picture is
served; two workers opening the same look at once may both log it (never neither)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from audit.records import Action, Event, LegalBasis
from contract.live_views import SignedSnapshot
from coordinator.alert_intake import from_enrolled_node
from coordinator.auth import Principal
from coordinator.db import LiveViewLook
from coordinator.errors import SnapshotRejected, signed_by
from coordinator.service import Coordinator, as_utc
from kernel.atomic_file import write_atomic
from kernel.errors import describe
from kernel.jpeg_scans import sequential_problem
from kernel.jpeg_size import jpeg_size

MAX_SIDE = 1920


@dataclass(frozen=True)
class LiveView:
    path: Path
    time: str


def _folder(svc: Coordinator, node_id: str) -> Path:
    return svc.settings.data_dir / "live" / node_id


def accept_snapshot(svc: Coordinator, message: Any) -> LiveView | None:
    """Keep a node's snapshot as its camera's live view; None when a newer one is already kept."""
    try:
        signed = SignedSnapshot.model_validate(message)
    except ValidationError as exc:
        raise SnapshotRejected(f"not a snapshot: {describe(exc)}") from None
    shot = signed.snapshot
    node = from_enrolled_node(svc, shot, signed.signature, shot.node_id, shot.site,
                              {shot.camera}, "snapshot", SnapshotRejected)
    with signed_by(node.node_id):
        jpeg = _picture(shot.jpeg)
    folder = _folder(svc, node.node_id)
    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / f"{shot.camera}.json"
    if meta.exists():
        kept = datetime.fromisoformat(json.loads(meta.read_text())["time"])
        if kept >= shot.time:
            return None
    picture = folder / f"{shot.camera}.jpg"
    write_atomic(picture, jpeg)
    write_atomic(meta, json.dumps({"time": shot.time.isoformat()}).encode())
    return LiveView(picture, shot.time.isoformat())


def _picture(encoded: str) -> bytes:
    """The snapshot's JPEG, if it is a plain one no larger than ``MAX_SIDE`` a side."""
    try:
        jpeg = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SnapshotRejected("the snapshot is not base64") from None
    # the size its header states, checked before a decoder allocates for it
    stated = jpeg_size(jpeg)
    if stated is None or jpeg[:3] != b"\xff\xd8\xff":
        raise SnapshotRejected("the snapshot is not a JPEG picture")
    if max(stated) > MAX_SIDE:
        raise SnapshotRejected(f"the snapshot is larger than {MAX_SIDE} pixels a side")
    problem = sequential_problem(jpeg)  # before decoding: the scan bomb (red team 2)
    if problem is not None:
        raise SnapshotRejected(f"the snapshot {problem}")
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != stated[::-1]:
        raise SnapshotRejected("the snapshot is not a JPEG picture")
    return jpeg


def live_view(svc: Coordinator, node_id: str, camera: str) -> LiveView | None:
    folder = _folder(svc, node_id)
    picture, meta = folder / f"{camera}.jpg", folder / f"{camera}.json"
    if not picture.exists() or not meta.exists():
        return None
    return LiveView(picture, json.loads(meta.read_text())["time"])


def look(svc: Coordinator, who: Principal, node_id: str, camera: str) -> bool:
    """Note an operator's fetch of a camera's live view; True when it opened a new look (which
    is then logged, before the picture is served)."""
    now = svc.clock()
    pause = timedelta(seconds=svc.settings.live_view_look_seconds)
    longest = timedelta(seconds=svc.settings.live_view_look_max_seconds)
    opens = True
    try:
        with svc.session() as session:
            row = session.get(LiveViewLook, (who.username, node_id, camera),
                              with_for_update=True)
            opens = (row is None or now - as_utc(row.last_at) > pause
                     or now - as_utc(row.opened_at) > longest)
            if opens:
                svc.log(Event(actor=who.actor, action=Action.CONSULTATION,
                              legal_basis=LegalBasis.STATUTE, purpose_code="control_room",
                              outcome="live_view_opened",
                              details={"node": node_id, "camera": camera}))
            if row is None:
                session.add(LiveViewLook(username=who.username, node_id=node_id,
                                         camera=camera, opened_at=now, last_at=now))
            else:
                row.last_at = now
                if opens:
                    row.opened_at = now
    except IntegrityError:  # another worker opened this look at the same moment, and logged it
        pass
    return opens
