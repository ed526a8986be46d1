"""Plain-language words for the codes the public log records, so that the portal says "a judge
refused to sign a warrant" where the log says ``warrant_declined``: every audit action, every
outcome of a policy change, every reason a check stopped a warrant, and the other codes the
report shows (training outcomes, what privacy budget was spent on). The codes stay in the log
and in report.json, where the citizen's browser recomputes them; only the page translates."""

from __future__ import annotations

from audit.records import Action
from contract.warrants import Refusal

ACTIONS: dict[str, str] = {
    Action.COLLECTION: "video recorded at a site",
    Action.CONSULTATION: "recordings or events looked at",
    Action.DISCLOSURE: "search results opened by the person who asked",
    Action.COMBINATION: "records combined",
    Action.ERASURE: "personal details erased at the end of their retention",
    Action.LEGAL_HOLD: "recordings held for a court case",
    Action.KEY_RELEASE: "a recording's key released under a warrant",
    Action.EXPORT: "evidence exported under a warrant",
    Action.RETENTION_PURGE: "old recordings destroyed",
    Action.WARRANT_DRAFTED: "warrants requested by police",
    Action.WARRANT_SIGNED: "warrants signed by a judge (or the DPO)",
    Action.WARRANT_REGISTERED: "warrants signed and usable",
    Action.WARRANT_USED: "warrant uses",
    Action.WARRANT_EXPIRED: "warrants expired",
    Action.WARRANT_REFUSED: "searches or signatures stopped by the system",
    Action.WARRANT_DECLINED: "warrants refused by a judge (or the DPO)",
    Action.WARRANT_REVOKED: "warrants revoked",
    Action.CONSENT_REGISTERED: "consents registered",
    Action.QUERY_DISPATCHED: "searches sent to sites",
    Action.QUERY_ANSWERED: "answers from sites",
    Action.MATCH_CONFIRMED: "face matches confirmed by two people",
    Action.AGGREGATE_RELEASED: "anonymous statistics released to planners",
    Action.TRAINING_RUN: "model training steps",
    Action.CONFIG_CHANGE: "changes to users, keys, models or settings",
    Action.NODE_ENROLLED: "camera sites enrolled",
    Action.ACCESS_DENIED: "requests refused for lack of permission",
    Action.ALERT_HANDLED: "alerts handled in the control room",
}

# config_change outcomes (coordinator/services/*, coordinator/learning, nodes)
CHANGES: dict[str, str] = {
    "user_created": "a user account was created",
    "user_disabled": "a user account was disabled",
    "webhook_added": "an alert webhook was added",
    "webhook_removed": "an alert webhook was removed",
    "model_deployed": "a trained model was sent to the sites",
    "model_installed": "a site installed a trained model",
    "model_refused": "a site refused a model",
    "pins_proposed": "a change of trusted judge or DPO keys was proposed",
    "pins_signed": "a judge or the DPO signed a change of trusted keys",
    "pins_dispatched": "a change of trusted keys was sent to the sites",
    "pins_acknowledged": "a site confirmed a change of trusted keys",
    "pins_updated": "a site changed the keys it trusts",
    "pins_refused": "a site refused a change of trusted keys",
}

REFUSALS: dict[str, str] = {
    Refusal.UNSIGNED: "the warrant was not signed",
    Refusal.UNKNOWN_SIGNER: "a signer's key is not one the sites trust",
    Refusal.BAD_SIGNATURE: "a signature did not verify",
    Refusal.MISSING_COUNTERSIGNATURE: "a face search lacked the DPO's countersignature",
    Refusal.NOT_YET_VALID: "the warrant was not valid yet",
    Refusal.EXPIRED: "the warrant had expired",
    Refusal.OUT_OF_SCOPE_SITE: "a site outside the warrant",
    Refusal.OUT_OF_SCOPE_CAMERA: "a camera outside the warrant",
    Refusal.OUT_OF_SCOPE_TIME: "a time outside the warrant",
    Refusal.OUT_OF_SCOPE_TARGET: "a target outside the warrant",
    Refusal.TARGET_NOT_IN_WARRANT: "a face picture the signers had not seen",
    Refusal.WRONG_KIND: "the wrong kind of search for the warrant",
    Refusal.TOO_MANY_TARGETS: "too many targets",
    Refusal.REVOKED: "the warrant had been revoked",
    Refusal.USED_UP: "all of the warrant's uses were spent",
    Refusal.REPLAYED: "the same search sent twice",
    Refusal.NOT_IN_LOG: "the warrant was not in the public log",
    Refusal.UNWITNESSED: "the log was not confirmed by the witnesses",
    Refusal.LOG_FORK: "the log disagreed with what a site saw before",
    Refusal.LOG_ROLLBACK: "the log was older than what a site saw before",
    Refusal.LOG_CONFLICT: "the log's proof did not fit what a site holds",
    Refusal.BAD_MESSAGE: "a malformed request",
    Refusal.BAD_REFERENCE: "an unusable face picture",
}

TRAINING: dict[str, str] = {
    "started": "started", "completed": "completed", "not_started": "did not start",
    "failed": "failed", "trained": "trained", "dropped": "dropped out", "declined": "declined",
}

BUDGET: dict[str, str] = {"training": "model training", "aggregates": "planners' statistics",
                          "total": "total"}


def words(code: str, table: dict[str, str]) -> str:
    """``code`` in words; a code the table lacks is shown as it is, spaced (never hidden)."""
    return table.get(code) or code.replace("_", " ")
