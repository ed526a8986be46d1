"""Planners' aggregate questions, answered at the node, with differential privacy.

The node checks the coordinator's signature, spends the question's (epsilon, delta) from its own
persisted budget (refusing, and saying so, past this calendar month's budget or its lifetime
cap, both on its own clock; every answer states the budget), counts visits in its own event
store, adds the noise itself and answers with noisy counts only, signed; every release is an
entry in the node's audit log. Each visit falls in exactly one cell, so one person's visit
changes one count by one: sensitivity 1, and the cells compose in parallel (one epsilon for the
whole answer).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from audit.records import Action, Event, LegalBasis, Scope, rfc3339
from audit.records import Window as LogWindow
from contract.aggregates import (
    DWELL_BUCKETS,
    AggregateKind,
    AggregateRequest,
    AggregateResult,
    BudgetReport,
    Cell,
    SignedAggregateRequest,
    SignedAggregateResult,
    bucket_label,
    decimal,
)
from contract.warrants import WarrantRefused
from nodes.events import EventStore
from nodes.inbox.state import InboxState
from nodes.privacy_ledger import site_ledger
from nodes.query_checks import check_message
from nodes.query_ledger import Start
from privacy.dp.accounting import BudgetExceeded, BudgetState
from privacy.dp.mechanisms import noise_parameter, release_count

log = logging.getLogger(__name__)
MAX_WINDOW = timedelta(days=31)
PURPOSE = "planning"
Key = tuple[str, str, str]  # camera, zone, bucket


def hours(start: datetime, end: datetime) -> list[datetime]:
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    found = []
    while hour < end:
        found.append(hour)
        hour += timedelta(hours=1)
    return found


def dwell_bucket(seconds: float) -> str:
    for lower, upper in DWELL_BUCKETS:
        if upper is None or seconds < upper:
            return bucket_label(lower, upper)
    raise AssertionError("the last bucket is open")


def true_counts(kind: AggregateKind, zones: dict[str, list[str]], start: datetime,
                end: datetime, visits: list[tuple[str, str, datetime, float]]
                ) -> dict[Key, int]:
    """Every cell the question asks for (fixed by the question, not by the data), counted."""
    buckets = ([h.isoformat() for h in hours(start, end)]
               if kind is AggregateKind.ZONE_COUNTS_HOURLY
               else [bucket_label(lo, hi) for lo, hi in DWELL_BUCKETS])
    cells = {(camera, zone, b): 0 for camera, ids in zones.items() for zone in ids
             for b in buckets}
    found = Counter(
        (camera, zone, entered.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
         .isoformat() if kind is AggregateKind.ZONE_COUNTS_HOURLY else dwell_bucket(seconds))
        for camera, zone, entered, seconds in visits)
    for key, count in found.items():
        if key in cells:
            cells[key] += count
    return cells


def _amount(value: float) -> Decimal:
    return decimal(round(value, 12))  # sums of decimal amounts, without binary residue


def budget_report(state: BudgetState) -> BudgetReport:
    """The budget as the node states it in its signed answers."""
    policy, period = state.policy, state.period
    amounts: dict[str, Any] = {}
    for scope, total, spent, left in (
            ("period", policy.period, state.period_spent, state.period_left),
            ("lifetime", policy.lifetime, state.lifetime_spent, state.lifetime_left)):
        for part in ("epsilon", "delta"):
            amounts[f"{scope}_{part}"] = _amount(getattr(total, part))
            amounts[f"{scope}_{part}_spent"] = _amount(getattr(spent, part))
            amounts[f"{scope}_{part}_left"] = _amount(getattr(left, part))
    return BudgetReport.model_validate(amounts | {
        "time_zone": policy.time_zone, "period_label": period.label,
        "period_start": period.start, "period_end": period.end,
        "epsilon_left": _amount(state.left.epsilon), "delta_left": _amount(state.left.delta),
        "as_of": state.as_of})


class AggregateInbox:
    def __init__(self, state: InboxState):
        settings = state.settings
        self.state, self.settings = state, settings
        self.events = EventStore(settings.stores.events)
        self.budget = site_ledger(settings, state.clock)
        self.budget.name = f"node {state.enrolment.node_id}"

    def close(self) -> None:
        self.events.close()
        self.budget.close()

    def answer(self, message: Any) -> dict[str, Any]:
        now = self.state.clock()
        try:
            signed = SignedAggregateRequest.model_validate(message)
        except ValidationError as exc:
            return self._refused(None, "bad_message",
                                 f"not an aggregate question: {exc.errors()[0]['msg']}", now)
        request = signed.request
        try:
            check_message(signed, self.state.enrolment, now,
                          timedelta(seconds=self.settings.query_max_age_seconds))
        except WarrantRefused as refusal:  # not from our coordinator: nothing is spent
            return self._refused(request, refusal.reason.value, str(refusal), now)
        sha = hashlib.sha256(request.payload()).hexdigest()
        try:
            earlier = self.state.ledger.previous(request.query_id, sha)
        except WarrantRefused as refusal:
            return self._refused(request, refusal.reason.value, str(refusal), now)
        if earlier is not None and earlier.state is Start.ANSWERED:
            return json.loads(earlier.answer or "{}")
        answer = self._release(request, now)
        self.state.ledger.record_answer(request.query_id, sha, "aggregate", json.dumps(answer))
        return answer

    def _release(self, request: AggregateRequest, now: datetime) -> dict[str, Any]:
        zones = {c.id: [z.id for z in c.analytics.zones] for c in self.settings.cameras
                 if c.id in request.cameras}
        unknown = sorted(set(request.cameras) - set(zones))
        if unknown:
            return self._refused(request, "unknown_camera",
                                 f"no such camera here: {', '.join(unknown)}", now)
        window = request.window
        if window.end - window.start > MAX_WINDOW:
            return self._refused(request, "window_too_long",
                                 f"a question covers at most {MAX_WINDOW.days} days", now)
        epsilon, delta = float(request.epsilon), float(request.delta)
        try:  # before anything is spent: parameters that give no finite noise are refused
            noise_parameter(1, epsilon, delta)
        except ValueError as exc:
            return self._refused(request, "bad_parameters", str(exc), now)
        try:
            spent = self.budget.spend(epsilon, delta, f"aggregate {request.query_id}")
        except BudgetExceeded as exc:
            return self._refused(request, "budget_exceeded", str(exc), now,
                                 budget_report(self.budget.state()))
        try:
            return self._answered(request, zones, epsilon, delta, spent)
        except Exception as exc:  # the spend stays recorded: say so, in the log and the answer
            log.exception("aggregate question %s failed after its spend", request.query_id)
            return self._refused(request, "failed_after_spend",
                                 f"spent epsilon {request.epsilon}, delta {request.delta} but "
                                 f"released nothing: {type(exc).__name__}", now,
                                 budget_report(self.budget.state()))

    def _answered(self, request: AggregateRequest, zones: dict[str, list[str]],
                  epsilon: float, delta: float, spent: BudgetState) -> dict[str, Any]:
        window = request.window
        counts = true_counts(request.kind, zones, window.start, window.end,
                             self.events.visits(sorted(zones), window.start, window.end))
        threshold = self.settings.dp_suppress_below
        cells, release = [], None
        for (camera, zone, bucket), count in counts.items():
            release = release_count(count, epsilon, delta, suppress_below=threshold)
            cells.append(Cell(camera=camera, zone=zone, bucket=bucket, value=release.value))
        left, report = spent.left.epsilon, budget_report(spent)
        appended = self.state.audit.append(self._event(
            request, Action.AGGREGATE_RELEASED, "released", len(cells),
            {"query_id": request.query_id, "kind": request.kind.value,
             "epsilon": str(request.epsilon), "delta": str(request.delta),
             "mechanism": release.mechanism if release else None,
             "noise_scale": str(decimal(release.noise_scale)) if release else None,
             "suppressed": sum(c.value is None for c in cells),
             "epsilon_left": str(report.epsilon_left), "period": report.period_label,
             "period_epsilon_left": str(report.period_epsilon_left),
             "lifetime_epsilon_left": str(report.lifetime_epsilon_left)}))
        return self._signed(AggregateResult(
            query_id=request.query_id, node_id=self.state.enrolment.node_id, status="answered",
            cells=tuple(cells), mechanism=release.mechanism if release else None,
            noise_scale=decimal(release.noise_scale) if release else None,
            epsilon=request.epsilon, delta=request.delta, suppressed_below=threshold,
            epsilon_left=_amount(left), budget=report,
            node_log_index=appended.index, answered_at=self.state.clock()))

    def _refused(self, request: AggregateRequest | None, reason: str, detail: str,
                 now: datetime, budget: BudgetReport | None = None) -> dict[str, Any]:
        query_id = request.query_id if request else "unknown"
        details = {"query_id": query_id, "reason": detail[:500]}
        event = (self._event(request, Action.AGGREGATE_RELEASED, reason, 0, details)
                 if request else Event(actor=self.state.actor, action=Action.AGGREGATE_RELEASED,
                                       legal_basis=LegalBasis.NONE, outcome=reason,
                                       details=details))
        appended = self.state.audit.append(event)
        log.warning("refused aggregate question %s: %s", query_id, detail)
        return self._signed(AggregateResult(
            query_id=query_id, node_id=self.state.enrolment.node_id, status="refused",
            reason=reason, detail=detail, budget=budget,
            epsilon_left=budget.epsilon_left if budget else None,
            node_log_index=appended.index, answered_at=now))

    def _event(self, request: AggregateRequest, action: Action, outcome: str, count: int,
               details: dict[str, Any]) -> Event:
        return Event(actor=self.state.actor, action=action, legal_basis=LegalBasis.STATUTE,
                     purpose_code=PURPOSE, outcome=outcome, counts_returned=count,
                     scope=Scope(sites=(request.site,), cameras=request.cameras,
                                 window=LogWindow(start=rfc3339(request.window.start),
                                                  end=rfc3339(request.window.end))),
                     recipients=("coordinator",), details=details)

    def _signed(self, result: AggregateResult) -> dict[str, Any]:
        signature = result.sign(self.state.identity.signing)
        return SignedAggregateResult(result=result, signature=signature).model_dump(mode="json")
