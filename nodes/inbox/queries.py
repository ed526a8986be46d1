"""Watchlist queries: the node checks each one itself (the coordinator's signature and age, the
warrant, the witnessed log's consistency, revocations and uses), searches inside the scope only,
logs what it did and answers with the minimum, signed.

A query is answered once: a redelivered message gets the stored answer again, so a broker or
worker that stops mid-query loses nothing and never searches twice.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from contract.queries import Hit, SignedQuery
from contract.warrants import Kind, Refusal, WarrantRefused
from kernel.json_logs import QUERY_ID
from nodes.inbox.answers import QueryAnswers
from nodes.inbox.face_search import FaceWatchlist
from nodes.inbox.state import InboxState
from nodes.query_checks import Checked, check_message, check_query, request_sha256
from nodes.query_ledger import Start

log = logging.getLogger(__name__)


class QueryInbox:
    def __init__(self, state: InboxState):
        self.state = state
        self.answers = QueryAnswers(state)
        self.faces = FaceWatchlist(state, self.answers)

    def close(self) -> None:
        self.faces.close()

    def answer(self, message: Any) -> dict[str, Any]:
        """Answer one query message (already decoded from JSON) with a signed result."""
        state, ledger = self.state, self.state.ledger
        QUERY_ID.set(_query_id(message)[:64])
        now = state.clock()
        try:
            query = SignedQuery.model_validate(message)
        except ValidationError as exc:
            query_id = _query_id(message)
            detail = f"not a query message: {exc.errors()[0]['msg']}"
            return self.answers.refused(None, query_id,
                                        WarrantRefused(Refusal.BAD_MESSAGE, detail), now)
        request = query.request
        try:
            check_message(query, state.enrolment, now,
                          timedelta(seconds=state.settings.query_max_age_seconds))
        except WarrantRefused as refusal:  # not from our coordinator: nothing is recorded
            return self.answers.refused(query, request.query_id, refusal, now)
        sha = request_sha256(query)
        try:
            earlier = ledger.previous(request.query_id, sha)
            if earlier is not None and earlier.state is Start.ANSWERED:
                log.info("query %s delivered again: sending the stored answer", request.query_id)
                return json.loads(earlier.answer or "{}")
            with state.log_head.locked():
                checked = check_query(query, state.enrolment, state.identity.sealing,
                                      ledger.revocation(request.warrant.warrant.warrant_id),
                                      now, state.log_head.held())
                state.log_head.advance(checked.checkpoint)
            started = ledger.start(request.query_id, sha, checked.warrant.warrant_id,
                                   checked.warrant.max_uses)
            if started.state is Start.ANSWERED:
                return json.loads(started.answer or "{}")
        except WarrantRefused as refusal:
            answer = self.answers.refused(query, request.query_id, refusal, now)
            ledger.record_answer(request.query_id, sha, request.warrant.warrant.warrant_id,
                                 json.dumps(answer))
            return answer
        try:
            answer = self._search(query, checked)
        except WarrantRefused as refusal:  # nothing was searched: the use counted is returned
            answer = self.answers.refused(query, request.query_id, refusal, now)
            ledger.record_answer(request.query_id, sha, checked.warrant.warrant_id,
                                 json.dumps(answer), refused=True)
            return answer
        ledger.record_answer(request.query_id, sha, checked.warrant.warrant_id,
                             json.dumps(answer))
        return answer

    def _search(self, query: SignedQuery, checked: Checked) -> dict[str, Any]:
        request = query.request
        if request.kind is Kind.FACE_WATCHLIST:
            return self.faces.answer(query, checked)
        if request.kind is not Kind.PLATE_WATCHLIST:
            raise WarrantRefused(Refusal.WRONG_KIND,
                                 f"this node answers watchlists, not {request.kind}")
        cameras = list(request.cameras)
        found = self.state.sightings.match(checked.targets, cameras, checked.window.start,
                                     checked.window.end)
        searched = self.state.sightings.count(cameras, checked.window.start, checked.window.end)
        hits = tuple(
            Hit(sighting_id=s.sighting_id, target=s.target, camera=s.camera, time=s.time,
                thumbnail=base64.b64encode(s.thumbnail).decode() if s.thumbnail else None)
            for s in found)
        return self.answers.answered(query, hits, searched)


def _query_id(message: Any) -> str:
    try:
        value = message["request"]["query_id"]
    except (TypeError, KeyError):
        return "unknown"
    return value if isinstance(value, str) and len(value) <= 64 else "unknown"
