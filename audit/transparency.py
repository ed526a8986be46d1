"""The transparency report: what the public log says the city did, counted from its public
records only, so anyone holding the log (and its signed checkpoint) gets the same numbers.

It names the checkpoint (tree size and root) it was computed from, and covers the first
``size`` entries of the log. Months are UTC, ``YYYY-MM``."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from audit.records import Action, LegalBasis, PublicRecord

SEARCH_BASES = (LegalBasis.WARRANT, LegalBasis.CONSENT)
# the outcomes of a training run's entries: one per site, and the run's own
SITE_OUTCOMES = ("trained", "dropped", "declined")
RUN_OUTCOMES = ("started", "completed", "not_started", "failed")
WARRANT_ACTIONS = (Action.WARRANT_REGISTERED, Action.WARRANT_REFUSED, Action.WARRANT_REVOKED,
                   Action.WARRANT_EXPIRED, Action.WARRANT_USED)


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


def transparency_report(records: Sequence[PublicRecord], root: bytes) -> dict[str, Any]:
    """The report over ``records`` (the log's first ``len(records)`` entries, whose tree has
    ``root``)."""
    actions: dict[str, Counter[str]] = defaultdict(Counter)
    searches: dict[str, Counter[str]] = defaultdict(Counter)
    warrants: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        month = _month(record)
        actions[month][record.action.value] += 1
        if (record.action is Action.QUERY_DISPATCHED and record.legal_basis in SEARCH_BASES):
            searches[month][record.purpose_code or "unspecified"] += 1
        if record.action in WARRANT_ACTIONS:
            warrants[month][record.action.value] += 1
    return {
        "checkpoint": {"size": len(records), "root": root.hex()},
        "actions_by_month": {m: dict(sorted(c.items())) for m, c in sorted(actions.items())},
        "searches_by_purpose": {m: dict(sorted(c.items())) for m, c in sorted(searches.items())},
        "warrants_by_month": {m: dict(sorted(c.items())) for m, c in sorted(warrants.items())},
        "trainings": _trainings(records),
        "privacy_budget_spent": _budgets(records),
    }
