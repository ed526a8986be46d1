"""Warrant revocations: recorded only when signed by a judge key this node pins; a query under
a revoked warrant is refused from then on (``nodes.query_checks``)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from audit.records import Action, Event, LegalBasis
from contract.queries import SignedRevocation
from contract.warrants import WarrantRefused
from nodes.inbox.state import InboxState
from nodes.query_checks import check_revocation


class RevocationInbox:
    def __init__(self, state: InboxState):
        self.state = state

    def answer(self, message: Any) -> dict[str, Any]:
        state = self.state
        try:
            revocation = SignedRevocation.model_validate(message)
            check_revocation(revocation, state.enrolment)
        except (ValidationError, WarrantRefused) as exc:
            detail = str(exc) if isinstance(exc, WarrantRefused) else "not a revocation message"
            state.audit.append(Event(actor=state.actor, action=Action.WARRANT_REFUSED,
                                     legal_basis=LegalBasis.NONE, outcome="bad_revocation",
                                     details={"reason": detail}))
            return {"node_id": state.enrolment.node_id, "recorded": False, "detail": detail}
        body = revocation.revocation
        new = state.ledger.revoke(body.warrant_id, body.revoked_at, body.reason,
                                  revocation.key_id)
        if new:
            state.audit.append(Event(actor=state.actor, action=Action.WARRANT_REVOKED,
                                     legal_basis=LegalBasis.WARRANT, warrant_id=body.warrant_id,
                                     outcome="revoked", details={"reason": body.reason}))
        return {"node_id": state.enrolment.node_id, "recorded": True}
