"""Clip requests: a short redacted clip of one of this node's events, sent only for a request
the city's witnessed log holds (``nodes.clip_checks``). Every answer and refusal is logged in the
node's own audit log first, then queued signed in the event store, from where the node's clip
sender (``nodes.event_sender.ClipSender``) publishes it to the coordinator's pictures' queue: a
broker that is away loses nothing.

A request is answered once: its id is recorded with the messages it queued, in one
transaction, so a redelivered request sends nothing again. A message not signed by the pinned
coordinator key is refused and logged but never recorded (it cannot use up a request id).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from audit.records import Action, Event, LegalBasis, Scope
from contract.evidence_clips import ClipRefused, ClipRequest, SignedClipRequest
from nodes.clip_checks import (
    ClipRequestRefused,
    check_clip,
    check_from_coordinator,
    check_logged_request,
)
from nodes.event_sender import clip_messages, clip_refusal_message
from nodes.events import EventStore
from nodes.inbox.state import InboxState

log = logging.getLogger(__name__)
SENT = "evidence_clip_sent"
REFUSED = "evidence_clip_refused"
_UUID = re.compile(r"^[0-9a-f-]{36}$")


class ClipInbox:
    def __init__(self, state: InboxState):
        self.state = state
        self.events = EventStore(state.settings.stores.events)

    def close(self) -> None:
        self.events.close()

    def answer(self, message: Any) -> dict[str, Any]:
        """Answer one clip request (already decoded from JSON): queue its frames or a refusal;
        what was done, for the worker's result."""
        state, now = self.state, self.state.clock()
        try:
            signed = SignedClipRequest.model_validate(message)
        except ValidationError as exc:
            request_id, seq = _ids(message)
            return self._refuse(None, request_id, seq, ClipRequestRefused(
                ClipRefused.BAD_REQUEST, f"not a clip request: {exc.errors()[0]['msg']}"), now)
        request = signed.request
        try:
            check_from_coordinator(signed, state.enrolment)
        except ClipRequestRefused as refusal:  # not from our coordinator: nothing is recorded
            return self._refuse(None, request.request_id, request.seq, refusal, now)
        done = self.events.clip_answer(request.request_id)
        if done is not None:
            log.info("clip request %s delivered again: already %s", request.request_id, done)
            return _result(request.request_id, done, again=True)
        try:
            # checked against the log head held, never advancing it: the coordinator learns that
            # head from signed query answers and export reports only, and a head advanced here,
            # unreported, would refuse its next query's proof (``log_conflict``)
            check_logged_request(signed, state.enrolment, now,
                                 timedelta(seconds=state.settings.query_max_age_seconds),
                                 state.log_head.held())
            clip = check_clip(request, self.events.event(request.seq),
                              self.events.clip(request.seq, request.camera), now,
                              timedelta(hours=state.settings.evidence_clip_hours))
        except ClipRequestRefused as refusal:
            return self._refuse(request, request.request_id, request.seq, refusal, now)
        enrolment, key = state.enrolment, state.identity.signing
        bodies = clip_messages(request.request_id, clip, enrolment.node_id,
                               enrolment.site_id, key)
        state.audit.append(self._event(request, SENT, len(bodies),
                                       {"frames": len(bodies)}, LegalBasis.STATUTE))
        if not self.events.queue_clip_answer(request.request_id, request.camera, SENT, bodies,
                                             now):
            return _result(request.request_id, SENT, again=True)  # a twin delivery won
        return _result(request.request_id, SENT, frames=len(bodies))

    def _refuse(self, request: ClipRequest | None, request_id: str | None, seq: int | None,
                refusal: ClipRequestRefused, now: datetime) -> dict[str, Any]:
        """Log the refusal; queue it signed when it can name a request, and record that
        request answered when it was the coordinator's (``request`` given)."""
        reason = refusal.reason
        details = {"request_id": request_id or "unknown", "reason": reason.value,
                   "detail": str(refusal)[:500]}
        event = (self._event(request, REFUSED, 0, details, LegalBasis.NONE)
                 if request is not None else
                 Event(actor=self.state.actor, action=Action.ACCESS_DENIED,
                       legal_basis=LegalBasis.NONE, outcome=REFUSED, details=details))
        self.state.audit.append(event)
        log.warning("refused clip request %s: %s", request_id, refusal)
        if request_id is None or seq is None:
            return _result(None, reason.value)
        enrolment = self.state.enrolment
        body = clip_refusal_message(request_id, seq, reason, str(refusal), enrolment.node_id,
                                    self.state.identity.signing)
        queued = self.events.queue_clip_answer(
            request_id if request is not None else None,
            request.camera if request is not None else "", reason.value, [body], now)
        return _result(request_id, reason.value, again=not queued)

    def _event(self, request: ClipRequest, outcome: str, count: int, details: dict[str, Any],
               basis: LegalBasis) -> Event:
        action = Action.DISCLOSURE if outcome == SENT else Action.ACCESS_DENIED
        return Event(actor=self.state.actor, action=action, legal_basis=basis,
                     outcome=outcome, counts_returned=count,
                     scope=Scope(sites=(request.site,), cameras=(request.camera,)),
                     recipients=("coordinator",) if outcome == SENT else (),
                     details={"request_id": request.request_id, "seq": request.seq,
                              "requester": request.requester, **details})


def _result(request_id: str | None, outcome: str, frames: int = 0, again: bool = False
            ) -> dict[str, Any]:
    return {"request_id": request_id, "outcome": outcome, "frames": frames, "again": again}


def _ids(message: Any) -> tuple[str | None, int | None]:
    """The request id and event number of a malformed request, when they can be read (to
    address its refusal); None otherwise."""
    try:
        request_id, seq = message["request"]["request_id"], message["request"]["seq"]
    except (TypeError, KeyError):
        return None, None
    if not isinstance(request_id, str) or not _UUID.match(request_id):
        return None, None
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        seq = None
    return request_id, seq
