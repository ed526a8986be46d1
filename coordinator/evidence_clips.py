"""Evidence clips: the frames a node sends of one of its alerts when an operator asked for them
(``coordinator.clip_requests``), taken off the broker and checked as an alert's evidence is
(``coordinator.evidence.checked_picture``: the enrolled node's signature, the JPEG the one
signed, its header's size before decoding, the box inside), and about the request: one the
coordinator sent, for that node, camera and event, each frame's place inside a clip of one
length. A frame sent again is kept once. Stored bound to the alert and deleted with it
(``coordinator.housekeeping.purge_alerts``); a node's signed refusal is the request's answer.

A request waits for its answer ``evidence_clip_wait_seconds`` from its last change (asked,
sent, its latest frame): never sent by then (the worker or broker away) it is ``unsent``, sent
and never answered ``unanswered``, answered with frames missing ``incomplete``. That deadline is
final. Whatever reaches a request past it, a late frame or refusal, is refused as an answer to
a request that is over (``evidence_clip_rejected``), and the worker no longer sends one
``unsent``: the control room has told the operator that the clip did not come and that they may
ask again, so the request never turns back to ``received`` (the view does not flip between
over and waiting), and a frame of a request a newer ask superseded never revives it nor joins
the new clip (frames are bound to their own request, and a newer request is made only once
the one before is over: the state it ended in is then stored, under the old request's row lock,
so that a frame racing the new ask either came first, and the old request is not over, or is
refused). The node keeps its clip for ``evidence_clip_hours``, so asking again fetches the
same footage under a new logged request; the refused late frames leave a trace in the log.
Each decision is taken under the request's row lock (a process lock on SQLite, as for asks).

Shown to the control room's roles; an operator's first fetch of a clip's frames is an access,
logged (``consultation``, outcome ``evidence_clip_viewed``; the clip sealed for the DPO), once
per operator and clip, even when two tabs fetch at once (``_look``): the player fetches every
frame."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.records import Action, Event, LegalBasis
from contract.evidence import EvidenceBox
from contract.evidence_clips import (
    MAX_SECONDS_FROM_EVENT,
    ClipFrame,
    SignedClipFrame,
    SignedClipRefusal,
)
from coordinator.alert_intake import from_enrolled_node
from coordinator.auth import Principal
from coordinator.db import Alert, AlertEvidenceClip, EvidenceClipLook, EvidenceClipRequest, Node
from coordinator.errors import ClipRejected, not_found, signed_by
from coordinator.evidence import checked_picture, intact, signed_picture
from coordinator.service import Coordinator, as_utc
from kernel.errors import describe

PENDING = ("requested", "sent")  # a new request for the alert answers with this one
# a node answers only a request it was sent, signed with its receipt: frames and refusals for
# one still ``requested`` (its id public in the log, never sent) are refused
ANSWERABLE = ("sent", "received")
ANSWERED = ("received", "refused")
# past ``evidence_clip_wait_seconds`` a request is over for good, in the state its wait ended
# in: never sent, sent and never answered, answered with frames missing
OVERDUE = {"requested": "unsent", "sent": "unanswered", "received": "incomplete"}
_FIRST_LOOKS = threading.Lock()  # serialises first looks on SQLite (``_look``)
_CHANGES = threading.RLock()  # serialises a request's changes of state on SQLite


class ClipFrameView(BaseModel):
    index: int
    time: datetime
    video_frame: int
    event_frame: bool
    width: int
    height: int
    box: EvidenceBox | None
    intact: bool  # the node's signature and the picture's digest check, now


class ClipView(BaseModel):
    """An alert's clip request as the control room sees it: its state, and its frames (the
    pictures at ``/alerts/{alert_id}/clips/{request_id}/{index}.jpg``) in order."""

    request_id: str
    alert_id: int
    incident_id: int | None
    # requested, sent, received, refused, failed, unsent, unanswered, incomplete, purged
    state: str
    frames: int | None  # how many the clip has, once its first frame came
    reason: str | None
    detail: str | None
    requested_at: datetime
    received: list[ClipFrameView]


def accept_clip(svc: Coordinator, message: Any) -> str:
    """Take a node's clip frame or refusal: ``stored``, ``duplicate`` (a frame sent again) or
    ``refused``. Raises :class:`ClipRejected` saying which check failed."""
    if isinstance(message, dict) and "refusal" in message:
        return _refusal(svc, message)
    try:
        signed = SignedClipFrame.model_validate(message)
    except ValidationError as exc:
        raise ClipRejected(f"not a clip frame: {describe(exc)}") from None
    frame = signed.frame
    from_enrolled_node(svc, frame, signed.signature, frame.node_id, frame.site, {frame.camera},
                       "clip frame", ClipRejected)
    # a picture not the one signed: no message of the node (``signed_picture``), names no node
    jpeg = signed_picture(signed.jpeg, frame, "clip frame", ClipRejected)
    with signed_by(frame.node_id):
        return _signed_frame(svc, signed, jpeg)


def _signed_frame(svc: Coordinator, signed: SignedClipFrame, jpeg: bytes) -> str:
    frame = signed.frame
    request = _request_for(svc, frame.request_id, frame.node_id, frame.seq)
    if request.camera != frame.camera:
        raise ClipRejected(f"clip request {frame.request_id} is for camera {request.camera}")
    if request.state not in ANSWERABLE:
        raise ClipRejected(f"clip request {frame.request_id} is {request.state}")
    if frame.index >= frame.frames:
        raise ClipRejected(f"frame {frame.index} of a clip of {frame.frames}")
    _near_the_alert(svc, request, frame)
    if request.frames is not None and request.frames != frame.frames:
        raise ClipRejected(f"the frame says the clip has {frame.frames} frames, its first "
                           f"said {request.frames}")
    jpeg = checked_picture(jpeg, frame, "clip frame", ClipRejected)
    try:
        return _store(svc, signed, jpeg)
    except IntegrityError:  # a concurrent worker stored the resend
        return "duplicate"


def _request_for(svc: Coordinator, request_id: str, node_id: str, seq: int
                 ) -> EvidenceClipRequest:
    with svc.session() as session:
        request = session.get(EvidenceClipRequest, request_id)
    if request is None:
        raise ClipRejected(f"no clip request {request_id} was sent")
    if request.node_id != node_id or request.seq != seq:
        raise ClipRejected(f"clip request {request_id} is for event {request.seq} of "
                           f"{request.node_id}")
    return request


def _near_the_alert(svc: Coordinator, request: EvidenceClipRequest, frame: ClipFrame) -> None:
    """A frame timed away from its alert is another moment's footage (an event number the
    node used twice, a node sending what it was not asked for): refused, whatever it shows."""
    with svc.session() as session:
        alert_time = as_utc(session.get_one(Alert, request.alert_id).time)
    off = abs((as_utc(frame.time) - alert_time).total_seconds())
    if off > MAX_SECONDS_FROM_EVENT + 1:  # a second's slack for the node's rounding
        raise ClipRejected(f"frame {frame.index} is {off:.0f} s from its alert's time")


def one_clip(frame: dict[str, Any], stored: Iterable[dict[str, Any]]) -> None:
    """A frame that cannot belong to one clip with the request's frames kept already (read
    under the request's lock) is refused: a clip has one event frame, the only one boxed, and
    its frames' times and video frame numbers rise with their index."""
    index = frame["index"]
    if frame["box"] is not None and not frame["event_frame"]:
        raise ClipRejected(f"frame {index} is boxed but not the event's")
    for other in stored:
        if frame["event_frame"] and other["event_frame"]:
            raise ClipRejected(f"frame {index} is a second event frame (frame "
                               f"{other['index']} is the event's)")
        before, after = (other, frame) if other["index"] < index else (frame, other)
        if not (datetime.fromisoformat(before["time"]) < datetime.fromisoformat(after["time"])
                and before["video_frame"] < after["video_frame"]):
            raise ClipRejected(f"frame {index}'s time or video frame does not rise with its "
                               f"index against frame {other['index']}")


def _store(svc: Coordinator, signed: SignedClipFrame, jpeg: bytes) -> str:
    frame = signed.frame
    with changes(svc), svc.session() as session:
        request = session.get_one(EvidenceClipRequest, frame.request_id, with_for_update=True)
        stored = {row.index: row.metadata_ for row in session.scalars(
            select(AlertEvidenceClip).where(AlertEvidenceClip.request_id == frame.request_id))}
        if frame.index in stored:
            return "duplicate"
        state = state_now(request, len(stored), svc.clock(),
                          svc.settings.evidence_clip_wait_seconds)
        if state not in ANSWERABLE:  # over (its deadline passed, or superseded) or refused
            raise ClipRejected(f"clip request {frame.request_id} is {state}")
        one_clip(frame.model_dump(mode="json"), stored.values())
        if request.frames is not None and request.frames != frame.frames:  # raced a first frame
            raise ClipRejected(f"the frame says the clip has {frame.frames} frames, its first "
                               f"said {request.frames}")
        session.add(AlertEvidenceClip(request_id=frame.request_id, alert_id=request.alert_id,
                                      index=frame.index, metadata_=frame.model_dump(mode="json"),
                                      signature=signed.signature, jpeg=jpeg,
                                      received_at=svc.clock()))
        request.frames, request.state, request.updated_at = frame.frames, "received", svc.clock()
    return "stored"


def _refusal(svc: Coordinator, message: dict[str, Any]) -> str:
    try:
        signed = SignedClipRefusal.model_validate(message)
    except ValidationError as exc:
        raise ClipRejected(f"not a clip refusal: {describe(exc)}") from None
    refusal = signed.refusal
    request = _request_for(svc, refusal.request_id, refusal.node_id, refusal.seq)
    from_enrolled_node(svc, refusal, signed.signature, refusal.node_id, request.site_id, set(),
                       "clip refusal", ClipRejected)
    if request.state == "requested":
        with signed_by(refusal.node_id):  # refused, the node accountable for it
            raise ClipRejected(f"clip request {refusal.request_id} was not sent")
    with changes(svc), svc.session() as session:
        row = session.get_one(EvidenceClipRequest, refusal.request_id, with_for_update=True)
        state = state_now(row, _kept(session, row.request_id), svc.clock(),
                          svc.settings.evidence_clip_wait_seconds)
        if state in OVERDUE.values():
            with signed_by(refusal.node_id):  # an answer to a request that is over
                raise ClipRejected(f"clip request {refusal.request_id} is {state}")
        if row.state == "sent":  # frames already kept stay the answer
            row.state, row.reason, row.detail = "refused", refusal.reason.value, refusal.detail
            row.updated_at = svc.clock()
    return "refused"


def state_now(request: EvidenceClipRequest, kept: int, now: datetime,
              wait_seconds: int) -> str:
    """The request's state as it stands ``now``: one left waiting past the deadline (never
    sent, sent and never answered, or answered with frames missing) is over for good
    (``OVERDUE``), so that it may be asked for again and the page stops following it."""
    late = as_utc(now) - as_utc(request.updated_at) > timedelta(seconds=wait_seconds)
    if late and request.state in PENDING:
        return OVERDUE[request.state]
    if late and request.state == "received" and kept < (request.frames or 0):
        return OVERDUE["received"]
    return request.state


def changes(svc: Coordinator) -> AbstractContextManager[object]:
    """What serialises a request's changes of state besides its row lock: PostgreSQL's row
    locks do; SQLite (the embedded default, one process) has none, and its write lock would
    block the log's append (the same database), so a lock of the process does."""
    return _CHANGES if svc.settings.db_url.startswith("sqlite") else nullcontext()


def closed_if_over(svc: Coordinator, session: Session, request: EvidenceClipRequest) -> str:
    """The request's state now, under its row lock; one over (past its deadline) is stored so
    for good, its reason and detail kept, so its view reads the same before and after."""
    state = state_now(request, _kept(session, request.request_id), svc.clock(),
                      svc.settings.evidence_clip_wait_seconds)
    if state != request.state:
        request.state, request.updated_at = state, svc.clock()
    return state


def _kept(session: Session, request_id: str) -> int:
    return session.scalar(select(func.count()).select_from(AlertEvidenceClip).where(
        AlertEvidenceClip.request_id == request_id)) or 0


def view(svc: Coordinator, request: EvidenceClipRequest) -> ClipView:
    with svc.session() as session:
        frames = session.scalars(select(AlertEvidenceClip).where(
            AlertEvidenceClip.request_id == request.request_id)
            .order_by(AlertEvidenceClip.index)).all()
        key = session.scalar(select(Node.identity_key).where(Node.node_id == request.node_id))
    return ClipView(request_id=request.request_id, alert_id=request.alert_id,
                    incident_id=request.incident_id, frames=request.frames,
                    state=state_now(request, len(frames), svc.clock(),
                                    svc.settings.evidence_clip_wait_seconds),
                    reason=request.reason, detail=request.detail,
                    requested_at=as_utc(request.requested_at),
                    received=[_frame_view(f, key) for f in frames])


def _frame_view(row: AlertEvidenceClip, key: str | None) -> ClipFrameView:
    frame = row.metadata_
    box = frame.get("box")
    return ClipFrameView(index=row.index, time=datetime.fromisoformat(frame["time"]),
                         video_frame=frame["video_frame"], event_frame=frame["event_frame"],
                         width=frame["width"], height=frame["height"],
                         box=EvidenceBox(**box) if box else None,
                         intact=intact(ClipFrame, frame, row.signature, row.jpeg, key))


def latest(svc: Coordinator, alert_id: int) -> EvidenceClipRequest | None:
    """The alert's newest clip request."""
    with svc.session() as session:
        return session.scalars(select(EvidenceClipRequest).where(
            EvidenceClipRequest.alert_id == alert_id)
            .order_by(EvidenceClipRequest.requested_at.desc())).first()


def of_alert(svc: Coordinator, alert_id: int) -> ClipView:
    request = latest(svc, alert_id)
    if request is None:
        raise not_found(f"clip request for alert {alert_id}")
    return view(svc, request)


def of_incident(svc: Coordinator, incident_id: int) -> dict[int, ClipView]:
    """The newest clip request of each of an incident's alerts that has one."""
    with svc.session() as session:
        newest = select(EvidenceClipRequest.alert_id,
                        func.max(EvidenceClipRequest.requested_at).label("at")).where(
            EvidenceClipRequest.incident_id == incident_id).group_by(
            EvidenceClipRequest.alert_id).subquery()
        rows = session.scalars(select(EvidenceClipRequest).join(newest, (
            EvidenceClipRequest.alert_id == newest.c.alert_id)
            & (EvidenceClipRequest.requested_at == newest.c.at))).all()
    return {r.alert_id: view(svc, r) for r in rows}


def frame_picture(svc: Coordinator, who: Principal, alert_id: int, request_id: str,
                  index: int) -> bytes:
    """One frame's JPEG; an operator's first fetch of the clip is logged first."""
    with svc.session() as session:
        row = session.scalars(select(AlertEvidenceClip).where(
            AlertEvidenceClip.request_id == request_id, AlertEvidenceClip.index == index,
            AlertEvidenceClip.alert_id == alert_id)).first()
        if row is None:
            raise not_found(f"frame {index} of clip {request_id[:36]} of alert {alert_id}")
        jpeg, incident_id = row.jpeg, session.get_one(
            EvidenceClipRequest, request_id).incident_id
    _look(svc, who, alert_id, request_id, incident_id)
    return jpeg


def _look(svc: Coordinator, who: Principal, alert_id: int, request_id: str,
          incident_id: int | None) -> None:
    """Log the operator's first look at the clip, before its frame is served: exactly once per
    operator and clip, however many fetches race. PostgreSQL: the look's row (its primary key,
    request and operator) is inserted before the entry is logged, so a racing fetch's insert
    waits on it and, once the first commits, fails: that fetch serves the frame, the look
    logged by then; should the append fail, the row goes with it and the other fetch logs.
    SQLite (one process) could not append to the log while a write is open on the same
    database, so a lock of the process serialises first looks there. Later fetches take no
    lock."""
    if _looked(svc, request_id, who.username):
        return
    sqlite = svc.settings.db_url.startswith("sqlite")
    try:
        with _FIRST_LOOKS if sqlite else nullcontext(), svc.session() as session:
            if session.get(EvidenceClipLook, (request_id, who.username)) is not None:
                return
            session.add(EvidenceClipLook(request_id=request_id, username=who.username,
                                         at=svc.clock()))
            if not sqlite:
                session.flush()  # claims the look: a racing fetch's claim waits here
            svc.log(Event(actor=who.actor, action=Action.CONSULTATION,
                          legal_basis=LegalBasis.STATUTE, purpose_code="control_room",
                          outcome="evidence_clip_viewed",
                          details={"request_id": request_id, "alert": str(alert_id),
                                   "incident": str(incident_id)}))
    except IntegrityError:  # another fetch claimed and logged this look first
        pass


def _looked(svc: Coordinator, request_id: str, username: str) -> bool:
    with svc.session() as session:
        return session.get(EvidenceClipLook, (request_id, username)) is not None
