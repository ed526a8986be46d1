"""How the node answers a watchlist query, plate or face: every answer and refusal is logged
first, signed with the node's identity key and sealed to the coordinator's pinned key."""

from __future__ import annotations

import base64
import logging
from datetime import datetime
from typing import Any

from audit.records import Action, Event, LegalBasis, Scope, rfc3339, under
from audit.records import Window as LogWindow
from contract.queries import (
    Hit,
    QueryResult,
    SealedResult,
    SignedQuery,
    SignedResult,
    Status,
    result_info,
)
from contract.warrants import WarrantRefused
from nodes.inbox.state import InboxState
from privacy.sealing import parse_public, seal

log = logging.getLogger(__name__)


class QueryAnswers:
    def __init__(self, state: InboxState):
        self.state = state

    def answered(self, query: SignedQuery, hits: tuple[Hit, ...], searched: int
                 ) -> dict[str, Any]:
        request = query.request
        appended = self.state.audit.append(self.event(
            query, Action.QUERY_ANSWERED, "answered", len(hits),
            {"query_id": request.query_id, "sighting_ids": [h.sighting_id for h in hits],
             "searched": searched}))
        result = QueryResult(query_id=request.query_id, node_id=self.state.enrolment.node_id,
                             status=Status.ANSWERED, hits=hits, searched=searched,
                             node_log_index=appended.index, answered_at=self.state.clock())
        return self._signed(result)

    def refused(self, query: SignedQuery | None, query_id: str, refusal: WarrantRefused,
                now: datetime) -> dict[str, Any]:
        event = (self.event(query, Action.WARRANT_REFUSED, refusal.reason.value, 0,
                            {"query_id": query_id, "reason": str(refusal)})
                 if query is not None else
                 Event(actor=self.state.actor, action=Action.WARRANT_REFUSED,
                       legal_basis=LegalBasis.NONE, outcome=refusal.reason.value,
                       details={"query_id": query_id, "reason": str(refusal)}))
        appended = self.state.audit.append(event)
        log.warning("refused query %s: %s", query_id, refusal)
        result = QueryResult(query_id=query_id, node_id=self.state.enrolment.node_id,
                             status=Status.REFUSED, reason=refusal.reason.value,
                             detail=str(refusal), node_log_index=appended.index,
                             answered_at=now)
        return self._signed(result)

    def event(self, query: SignedQuery, action: Action, outcome: str, count: int,
              details: dict[str, Any]) -> Event:
        request = query.request
        warrant = request.warrant.warrant
        return Event(
            actor=self.state.actor, action=action, outcome=outcome,
            **under(warrant.basis, warrant.warrant_id),
            purpose_code=warrant.purpose_code, counts_returned=count,
            scope=Scope(sites=(request.site,), cameras=request.cameras,
                        window=LogWindow(start=rfc3339(request.window.start),
                                         end=rfc3339(request.window.end))),
            recipients=("coordinator",), details=details)

    def _signed(self, result: QueryResult) -> dict[str, Any]:
        """Sign the answer (with the log size this node holds, so that the coordinator can
        prove consistency from it next time), then seal it to the coordinator's pinned key."""
        held = self.state.log_head.held()
        result = result.model_copy(update={"log_size": held.size if held else None})
        signed = SignedResult(result=result, signature=result.sign(self.state.identity.signing))
        sealed = seal(parse_public(self.state.enrolment.coordinator_sealing_key),
                      signed.model_dump_json().encode(),
                      result_info(result.query_id, result.node_id))
        return SealedResult(query_id=result.query_id, node_id=result.node_id,
                            sealed=base64.b64encode(sealed).decode()).model_dump(mode="json")
