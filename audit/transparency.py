"""The transparency report: what the public log says the city did, counted from its public
records only, so anyone holding the log (and its signed checkpoint) gets the same numbers.

It names the checkpoint (tree size and root) it was computed from, and covers the first
``size`` entries of the log. Months are UTC, ``YYYY-MM``."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from audit.records import Action, LegalBasis, PublicRecord, occurrences, parse_time

SEARCH_BASES = (LegalBasis.WARRANT, LegalBasis.CONSENT)
# the outcomes of a training run's entries: one per site, and the run's own
SITE_OUTCOMES = ("trained", "dropped", "declined")
RUN_OUTCOMES = ("started", "completed", "not_started", "failed")
# warrant_declined: a signer said no (the portal's "refused by a judge"); warrant_refused: a
# check stopped a search or a signature (an unknown target, a used-up warrant), no one's decision
WARRANT_ACTIONS = (Action.WARRANT_DRAFTED, Action.WARRANT_REGISTERED, Action.WARRANT_DECLINED,
                   Action.WARRANT_REFUSED, Action.WARRANT_REVOKED, Action.WARRANT_EXPIRED,
                   Action.WARRANT_USED)


# the recent window the portal leads with (as public portals of licence-plate reader agencies
# do): the days before the newest entry the checkpoint covers, so the same log gives the same
# numbers whenever and wherever it is recomputed (no reader's clock enters)
RECENT_DAYS = 30
RECENT = {"searches": Action.QUERY_DISPATCHED, "warrants_registered": Action.WARRANT_REGISTERED,
          "warrants_declined": Action.WARRANT_DECLINED, "stopped_at_a_check":
          Action.WARRANT_REFUSED, "disclosures": Action.DISCLOSURE,
          "alerts_handled": Action.ALERT_HANDLED, "statistics_released":
          Action.AGGREGATE_RELEASED, "access_denied": Action.ACCESS_DENIED}


def _milliseconds(time: str) -> datetime:
    """``time`` to the millisecond: what a browser's Date holds, so that the citizen's check
    (verify.js) draws the window's edge exactly where this does."""
    moment = parse_time(time)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _recent(records: Sequence[PublicRecord]) -> dict[str, Any]:
    """Counts over the RECENT_DAYS days up to the newest covered entry's time (``until``):
    searches, hits, warrant decisions, disclosures, alerts handled, statistics, denials."""
    if not records:
        return {"days": RECENT_DAYS, "until": None, "hits": 0, **dict.fromkeys(RECENT, 0)}
    until = max(records, key=lambda r: _milliseconds(r.time)).time
    since = _milliseconds(until) - timedelta(days=RECENT_DAYS)
    counts = dict.fromkeys(RECENT, 0)
    hits = 0
    for record in records:
        if _milliseconds(record.time) <= since:
            continue
        for key, action in RECENT.items():
            if record.action is action:
                counts[key] += occurrences(record)
        if record.action is Action.QUERY_ANSWERED and record.legal_basis in SEARCH_BASES:
            hits += record.counts_returned
    return {"days": RECENT_DAYS, "until": until, "hits": hits, **counts}


def _month(record: PublicRecord) -> str:
    return record.time[:7]


def _trainings(records: Sequence[PublicRecord]) -> list[dict[str, Any]]:
    """One item per federated training run: when, the task, how it ended, and per site what it
    took part in and the epsilon it spent."""
    runs: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.action is not Action.TRAINING_RUN or record.training is None:
            continue
        run = runs.setdefault(record.training.run_id, {
            "run_id": record.training.run_id, "task": record.training.task,
            "started": record.time, "status": "started", "rounds": 0, "sites": {}})
        if record.outcome in SITE_OUTCOMES:
            for site in record.scope.sites:
                epsilon, delta = (record.privacy_loss.values() if record.privacy_loss
                                  else (0.0, 0.0))
                run["sites"][site] = {"outcome": record.outcome, "epsilon": epsilon,
                                      "delta": delta}
        elif record.outcome != "started":
            run.update({"status": record.outcome, "finished": record.time,
                        "rounds": record.training.rounds})
    return list(runs.values())


def _budgets(records: Sequence[PublicRecord]) -> dict[str, dict[str, float]]:
    """Epsilon each site has spent, by what it was spent on (basic composition)."""
    spent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for record in records:
        if record.privacy_loss is None:
            continue
        kind = {Action.TRAINING_RUN: "training",
                Action.AGGREGATE_RELEASED: "aggregates"}.get(record.action, record.action.value)
        epsilon, _ = record.privacy_loss.values()
        for site in record.scope.sites:
            spent[site][kind] += epsilon
            spent[site]["total"] += epsilon
    return {site: dict(kinds) for site, kinds in sorted(spent.items())}


def _by_month(counters: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {m: dict(sorted(c.items())) for m, c in sorted(counters.items())}


def transparency_report(records: Sequence[PublicRecord], root: bytes) -> dict[str, Any]:
    """The report over ``records`` (the log's first ``len(records)`` entries, whose tree has
    ``root``).

    Hits are what nodes returned to warrant- or consent-gated searches (``query_answered``
    counts); disclosures are results a person opened, by recipient; policy changes are the
    ``config_change`` entries. The portal's verifier recomputes every number here from the log
    entries in the browser (``coordinator/web/static/verify.js``): change both together."""
    actions: dict[str, Counter[str]] = defaultdict(Counter)
    searches: dict[str, Counter[str]] = defaultdict(Counter)
    warrants: dict[str, Counter[str]] = defaultdict(Counter)
    hits: dict[str, Counter[str]] = defaultdict(Counter)
    disclosures: dict[str, Counter[str]] = defaultdict(Counter)
    refusals: dict[str, Counter[str]] = defaultdict(Counter)
    policy: list[dict[str, str]] = []
    for record in records:
        month = _month(record)
        actions[month][record.action.value] += occurrences(record)
        if record.legal_basis in SEARCH_BASES:
            if record.action is Action.QUERY_DISPATCHED:
                searches[month][record.purpose_code or "unspecified"] += 1
            elif record.action is Action.QUERY_ANSWERED:
                hits[month][record.purpose_code or "unspecified"] += record.counts_returned
            elif record.action is Action.DISCLOSURE:
                for recipient in record.recipients or ("unnamed",):
                    disclosures[month][f"{record.actor.role}:{recipient}"] += 1
        if record.action in WARRANT_ACTIONS:
            warrants[month][record.action.value] += 1
        if record.action is Action.WARRANT_REFUSED:  # its outcome: the check's reason code
            refusals[month][record.outcome] += 1
        if record.action is Action.CONFIG_CHANGE:
            policy.append({"time": record.time, "by": record.actor.role,
                           "outcome": record.outcome})
    return {
        "checkpoint": {"size": len(records), "root": root.hex()},
        "actions_by_month": _by_month(actions),
        "searches_by_purpose": _by_month(searches),
        "warrants_by_month": _by_month(warrants),
        "refusals_by_reason": _by_month(refusals),
        "hits_by_purpose": _by_month(hits),
        "disclosures_by_recipient": _by_month(disclosures),
        "policy_changes": policy,
        "trainings": _trainings(records),
        "privacy_budget_spent": _budgets(records),
        "recent": _recent(records),
    }
