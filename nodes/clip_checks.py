"""Everything a node checks before it sends a clip of one of its events (pure logic: the caller
supplies the time, the pinned keys, the log head it holds and the stored event).

A clip leaves a site only for a request signed with the coordinator's pinned key, addressed to
this node, fresh, and logged in the city's witnessed audit log: the receipt of a
``consultation`` entry, outcome ``evidence_clip_requested``, whose committed details open (with
the salts the request carries) to exactly this request's id, node, camera, event and requester.
The checks are the query path's (``nodes.query_checks``), each failure mapped to the reason the
clip contract names.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from audit.checkpoint import Checkpoint
from audit.records import Action, PublicRecord, opens, parse_time, rfc3339
from contract.clip_request_log import OUTCOME, logged_fields
from contract.evidence_clips import ClipRefused, ClipRequest, SignedClipRequest
from contract.warrants import WarrantRefused
from kernel.canonical import canonical_json
from nodes.enrolment import Enrolment
from nodes.events import Clip, StoredEvent
from nodes.query_checks import (
    SKEW,
    check_addressed,
    check_fresh,
    check_receipt,
    check_signed,
)
from nodes.witnessed_log import Held

WHAT = "clip request"
T = TypeVar("T")


class ClipRequestRefused(Exception):
    """``final``: the request can never pass (its id is recorded answered, so a replay is
    answered ``again``); not so a request refused only as stale, which the coordinator may
    send again, freshly signed, and whose staleness is the transport's doing, not its own."""

    def __init__(self, reason: ClipRefused, detail: str, final: bool = True):
        super().__init__(detail)
        self.reason, self.final = reason, final


def _as(reason: ClipRefused, check: Callable[..., T], *args: Any, final: bool = True) -> T:
    """Run a query-path check, its refusal given the clip contract's ``reason``."""
    try:
        return check(*args)
    except WarrantRefused as refusal:
        raise ClipRequestRefused(reason, str(refusal), final) from None


def check_from_coordinator(signed: SignedClipRequest, enrolment: Enrolment) -> None:
    """Signed with the coordinator key pinned at enrolment (checked before anything is
    recorded: an unsigned message is answered, never remembered)."""
    _as(ClipRefused.BAD_REQUEST, check_signed, signed, enrolment, WHAT)


def check_logged_request(signed: SignedClipRequest, enrolment: Enrolment, now: datetime,
                         max_age: timedelta, held: Held | None, event: StoredEvent | None
                         ) -> Checkpoint:
    """Addressed to this node, fresh, and in the witnessed log as this very request, logged
    after ``event`` (the stored event it names, when there is one: ``check_clip`` refuses a
    request without) and recently; return the checkpoint its receipt rests on."""
    request = signed.request
    _as(ClipRefused.NOT_THIS_NODE, check_addressed, request, enrolment, WHAT)
    _as(ClipRefused.BAD_REQUEST, check_fresh, request, now, max_age, WHAT, final=False)
    record, checkpoint = _as(ClipRefused.NOT_LOGGED, check_receipt, request.receipt, enrolment,
                             held, request.log_consistency)
    check_entry(record, request)
    if event is not None:
        check_public(record, request, enrolment.site_id, event.time, now, max_age)
    return checkpoint


def logged_details(request: ClipRequest) -> dict[str, str | int]:
    """What the request's audit entry must commit to, as the coordinator logs it."""
    return {"request_id": request.request_id, "node_id": request.node_id,
            "camera": request.camera, "seq": request.seq, "requester": request.requester}


def check_entry(record: PublicRecord, request: ClipRequest) -> None:
    """The entry logs a clip request, and its details open to this one's."""
    if record.action is not Action.CONSULTATION or record.outcome != OUTCOME:
        raise ClipRequestRefused(ClipRefused.NOT_LOGGED, (
            f"the receipt proves a {record.action.value} entry ({record.outcome}), not a "
            "logged clip request"))
    for name, value in logged_details(request).items():
        try:
            salt = base64.b64decode(request.openings.get(name, ""), validate=True)
        except ValueError:
            salt = b""
        if not salt or not opens(record, name, salt, canonical_json(value)):
            raise ClipRequestRefused(ClipRefused.NOT_LOGGED, (
                f"the logged entry does not commit to this request's {name}"))


def check_public(record: PublicRecord, request: ClipRequest, site: str, event_time: datetime,
                 now: datetime, max_age: timedelta) -> None:
    """The entry's public part is the one the coordinator writes for this request
    (``contract.clip_request_log.logged_fields``: its id, this node, the requester, this site,
    the camera, a window holding the event's time), so the public log says truly who asked
    for what; and it was written after the event and no longer ago than a request may be old
    (``query_max_age_seconds`` and the skew): an entry logged before the event existed (for an
    event number guessed ahead) or long ago (replayed onto a later event) opens nothing."""
    window = record.scope.window
    expected = logged_fields(request.request_id, request.node_id, site, request.camera,
                             event_time)
    public = {"event_id": record.event_id, "action": record.action, "outcome": record.outcome,
              "purpose_code": record.purpose_code, "recipients": record.recipients,
              "scope": (record.scope.sites, record.scope.cameras)}
    wanted = {**expected, "scope": (expected["scope"].sites, expected["scope"].cameras)}
    for name, value in wanted.items():
        if public[name] != value:
            raise ClipRequestRefused(ClipRefused.NOT_LOGGED, (
                f"the logged entry's public {name} is not this request's"))
    if record.actor.pseudonym != request.requester:
        raise ClipRequestRefused(ClipRefused.NOT_LOGGED,
                                 "the logged entry's public actor is not this request's")
    if window is None or not parse_time(window.start) <= event_time <= parse_time(window.end):
        raise ClipRequestRefused(ClipRefused.NOT_LOGGED,
                                 "the logged entry's public window does not hold the event")
    logged_at = parse_time(record.time)
    if not event_time <= logged_at <= now + SKEW:
        raise ClipRequestRefused(ClipRefused.NOT_LOGGED, (
            f"the entry was logged at {record.time}, not between the event "
            f"({rfc3339(event_time)}) and now"))
    if now - logged_at > max_age + SKEW:
        raise ClipRequestRefused(ClipRefused.NOT_LOGGED, (
            f"the entry was logged at {record.time}, longer ago than {max_age + SKEW}"))


def check_clip(request: ClipRequest, event: StoredEvent | None, clip: Clip | None,
               now: datetime, keep: timedelta) -> Clip:
    """The event is this camera's at this node, and its clip is still kept (``keep``:
    ``evidence_clip_hours``; a clip past it counts as gone even before the purge runs)."""
    if event is None or event.camera != request.camera:
        raise ClipRequestRefused(ClipRefused.UNKNOWN_EVENT, (
            f"this node has no event {request.seq} of camera {request.camera}"))
    if clip is None or not clip.frames or min(f.time for f in clip.frames) < now - keep:
        raise ClipRequestRefused(ClipRefused.NO_CLIP, (
            f"event {request.seq} has no clip kept (cut only for events with evidence, kept "
            f"{keep.total_seconds() / 3600:g} hours)"))
    return clip
