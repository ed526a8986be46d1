"""Models the federation trained: installed only when signed by the pinned coordinator key
(``nodes.learning.deployed``); the installation or refusal is logged."""

from __future__ import annotations

import logging
from typing import Any

from audit.records import Action, Event, LegalBasis
from kernel.errors import VerificationError
from nodes.inbox.state import InboxState

log = logging.getLogger(__name__)


class ModelInbox:
    def __init__(self, state: InboxState):
        self.state = state

    def answer(self, message: Any) -> dict[str, Any]:
        """Install a model signed by the pinned coordinator key; refuse anything else."""
        from nodes.learning.deployed import install  # loads torch: only when a model comes

        state = self.state
        try:
            installed = install(state.settings, state.enrolment, message)
        except VerificationError as exc:
            state.audit.append(Event(actor=state.actor, action=Action.CONFIG_CHANGE,
                                     legal_basis=LegalBasis.STATUTE, outcome="model_refused",
                                     details={"reason": str(exc)}))
            log.warning("refused a model: %s", exc)
            return {"node_id": state.enrolment.node_id, "installed": False, "detail": str(exc)}
        state.audit.append(Event(actor=state.actor, action=Action.CONFIG_CHANGE,
                                 legal_basis=LegalBasis.STATUTE, outcome="model_installed",
                                 details={"task": installed.task, "run_id": installed.run_id}))
        return {"node_id": state.enrolment.node_id, "installed": True, "task": installed.task,
                "run_id": installed.run_id, "threshold": installed.threshold,
                "calibrated_on": installed.calibrated_on}
