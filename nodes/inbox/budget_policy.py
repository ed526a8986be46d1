"""A changed privacy budget in the node's config (``[privacy_budget]``: raising or lowering
the monthly or lifetime epsilon and delta, or the period's time zone) logged in the node's
audit log, once: when the node's worker starts under a policy other than the one its ledger
recorded last, before any question or training round spends under it."""

from __future__ import annotations

from audit.records import Action, Event, LegalBasis
from nodes.inbox.state import InboxState
from nodes.privacy_ledger import Terms, site_ledger

OUTCOME = "privacy_budget_changed"


def log_policy_change(state: InboxState) -> bool:
    """Record the configured policy in the ledger, logging a ``config_change`` entry with the
    old and new terms if it changed; whether it did."""
    def changed(old: Terms, new: Terms) -> None:
        state.audit.append(Event(
            actor=state.actor, action=Action.CONFIG_CHANGE, legal_basis=LegalBasis.STATUTE,
            outcome=OUTCOME, details={"setting": "privacy_budget", "old": old, "new": new}))

    ledger = site_ledger(state.settings, state.clock)
    try:
        return ledger.adopt_policy(changed)
    finally:
        ledger.close()
