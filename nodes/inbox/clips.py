"""Clip requests: a short redacted clip of one of this node's events, sent only for a request
the city's witnessed log holds (``nodes.clip_checks``). Every answer and refusal of a
coordinator-signed request is logged in the node's own audit log, then queued signed in the
event store, from where the node's clip sender (``nodes.event_sender.ClipSender``) publishes it
to the coordinator's pictures' queue: a broker that is away loses nothing.

A request is answered once: its id is claimed, the answer logged and its messages queued in one
transaction, so a redelivered request (or a twin delivered at the same moment to another worker)
sends and logs nothing again. A request refused only as stale is not claimed: the coordinator
may send it again, freshly signed.

A message not signed by the pinned coordinator key (or not a clip request at all) is anyone's on
the broker: it is refused as the task's result only, never signed, queued or published (a
signed refusal naming a real request's id would cancel that request at the coordinator), and
never recorded (it cannot use up a request id). The node's audit log sums such refusals up,
at most one entry per ten minutes (``nodes.inbox.unauthenticated``).
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
from nodes.inbox.unauthenticated import Tally

log = logging.getLogger(__name__)
SENT = "evidence_clip_sent"
REFUSED = "evidence_clip_refused"
UNAUTHENTICATED = "evidence_clip_unauthenticated"
_UUID = re.compile(r"^[0-9a-f-]{36}$")


class ClipInbox:
    def __init__(self, state: InboxState):
        self.state = state
        self.events = EventStore(state.settings.stores.events)
        self.unauthenticated = Tally()

    def close(self) -> None:
        self.events.close()

    def answer(self, message: Any) -> dict[str, Any]:
        """Answer one clip request (already decoded from JSON): queue its frames or a refusal;
        what was done, for the worker's result."""
        state, now = self.state, self.state.clock()
        try:
            signed = SignedClipRequest.model_validate(message)
        except ValidationError as exc:
            return self._unauthenticated(_ids(message), ClipRequestRefused(
                ClipRefused.BAD_REQUEST, f"not a clip request: {exc.errors()[0]['msg']}"), now)
        request = signed.request
        try:
            check_from_coordinator(signed, state.enrolment)
        except ClipRequestRefused as refusal:
            return self._unauthenticated(request.request_id, refusal, now)
        done = self.events.clip_answer(request.request_id)
        if done is not None:
            log.info("clip request %s delivered again: already %s", request.request_id, done)
            return _result(request.request_id, done, again=True)
        event = self.events.event(request.seq)
        try:
            # checked against the log head held, never advancing it: the coordinator learns that
            # head from signed query answers and export reports only, and a head advanced here,
            # unreported, would refuse its next query's proof (``log_conflict``)
            check_logged_request(signed, state.enrolment, now,
                                 timedelta(seconds=state.settings.query_max_age_seconds),
                                 state.log_head.held(), event)
            clip = check_clip(request, event, self.events.clip(request.seq, request.camera), now,
                              timedelta(hours=state.settings.evidence_clip_hours))
        except ClipRequestRefused as refusal:
            return self._refuse(request, refusal, now)
        enrolment, key = state.enrolment, state.identity.signing
        bodies = clip_messages(request.request_id, clip, enrolment.node_id,
                               enrolment.site_id, key)
        disclosed = self._event(request, SENT, len(bodies), {"frames": len(bodies)},
                                LegalBasis.STATUTE)
        if not self.events.queue_clip_answer(request.request_id, request.camera, SENT, bodies,
                                             now, min(f.time for f in clip.frames),
                                             lambda: state.audit.append(disclosed)):
            return _result(request.request_id, SENT, again=True)  # a twin delivery won
        return _result(request.request_id, SENT, frames=len(bodies))

    def _unauthenticated(self, request_id: str | None, refusal: ClipRequestRefused,
                         now: datetime) -> dict[str, Any]:
        """Refused as the task's result only; summed up in the audit log now and then."""
        count = self.unauthenticated.note(now)
        if count is None:
            log.debug("refused unauthenticated clip message (%s): %s", request_id, refusal)
        else:
            self.state.audit.append(Event(
                actor=self.state.actor, action=Action.ACCESS_DENIED, legal_basis=LegalBasis.NONE,
                outcome=UNAUTHENTICATED, counts_returned=0,
                details={"messages": count, "reason": refusal.reason.value,
                         "last_detail": str(refusal)[:500]}))
            log.warning("refused %d clip message(s) not signed by the coordinator since the last "
                        "entry; the last: %s", count, refusal)
        return _result(request_id, refusal.reason.value)

    def _refuse(self, request: ClipRequest, refusal: ClipRequestRefused,
                now: datetime) -> dict[str, Any]:
        """Log the coordinator's request refused and queue the refusal signed; claim its id
        unless the refusal is not ``final`` (stale only: it may be sent again)."""
        reason = refusal.reason
        details = {"reason": reason.value, "detail": str(refusal)[:500]}
        refused = self._event(request, REFUSED, 0, details, LegalBasis.NONE)
        log.warning("refused clip request %s: %s", request.request_id, refusal)
        body = clip_refusal_message(request.request_id, request.seq, reason, str(refusal),
                                    self.state.enrolment.node_id, self.state.identity.signing)
        queued = self.events.queue_clip_answer(
            request.request_id if refusal.final else None, request.camera, reason.value, [body],
            now, now, lambda: self.state.audit.append(refused))
        return _result(request.request_id, reason.value, again=not queued)

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


def _ids(message: Any) -> str | None:
    """The request id of a malformed request, when it can be read (for the task's result)."""
    try:
        request_id = message["request"]["request_id"]
    except (TypeError, KeyError):
        return None
    return request_id if isinstance(request_id, str) and _UUID.match(request_id) else None
