"""Planners' aggregate questions (visits per zone per hour, dwell times),
answered by each node with differential privacy from its own budget.

The coordinator never sees a true count: it logs the question, signs one request per node and
collects signed noisy answers; each node spends the epsilon itself and refuses past its budget.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from audit.records import Action, Event, LegalBasis, PrivacyLoss, Scope, rfc3339
from audit.records import Window as LogWindow
from contract.aggregates import (
    AggregateRequest,
    SignedAggregateRequest,
    SignedAggregateResult,
    decimal,
    estimate,
)
from contract.tasks import AGGREGATE_TASK
from coordinator import budget_reports
from coordinator.auth import Principal
from coordinator.db import Aggregate, AggregateNode, Node
from coordinator.dispatch import TIMED_OUT, collect
from coordinator.errors import invalid, not_found
from coordinator.roles import Role
from coordinator.service import Coordinator, as_utc
from coordinator.services.fan_out import send_parts, task_id
from coordinator.services.requests import NewAggregate
from privacy.signing import VerifyKey

PURPOSE = "planning"
MAX_WINDOW = timedelta(days=31)


def ask(svc: Coordinator, who: Principal, body: NewAggregate) -> dict[str, Any]:
    """Log the question, store it, then send one signed request per node; its view."""
    if body.epsilon > svc.settings.max_aggregate_epsilon:
        raise invalid(f"one question may spend at most epsilon "
                      f"{svc.settings.max_aggregate_epsilon:g} at each node", "epsilon_too_large")
    if body.window.end - body.window.start > MAX_WINDOW:
        raise invalid(f"a question covers at most {MAX_WINDOW.days} days", "window_too_long")
    with svc.session() as session:
        nodes = session.scalars(select(Node).where(Node.active).order_by(Node.node_id)).all()
    plan = [(n, sorted(set(n.cameras) & set(body.cameras)) if body.cameras else n.cameras)
            for n in nodes if body.sites is None or n.site_id in body.sites]
    plan = [(n, cameras) for n, cameras in plan if cameras]
    if not plan:
        raise invalid("no enrolled node has those sites and cameras", "unknown_node")
    now, query_id = svc.clock(), str(uuid.uuid4())
    index = svc.log(Event(
        actor=who.actor, action=Action.QUERY_DISPATCHED, legal_basis=LegalBasis.STATUTE,
        purpose_code=PURPOSE, outcome="dispatched",
        scope=Scope(sites=tuple(sorted({n.site_id for n, _ in plan})),
                    cameras=tuple(sorted({c for _, cams in plan for c in cams})),
                    window=LogWindow(start=rfc3339(body.window.start),
                                     end=rfc3339(body.window.end))),
        recipients=tuple(n.node_id for n, _ in plan),
        details={"query_id": query_id, "aggregate": body.kind.value,
                 "epsilon": str(decimal(body.epsilon)), "delta": str(decimal(body.delta))}))
    with svc.session() as session:
        session.add(Aggregate(query_id=query_id, kind=body.kind.value,
                              requested_by=who.username, epsilon=body.epsilon, delta=body.delta,
                              window_start=body.window.start, window_end=body.window.end,
                              dispatched_index=index, created_at=now,
                              deadline=now + timedelta(seconds=svc.settings.query_timeout_seconds)))
        session.flush()
        for node, cameras in plan:
            session.add(AggregateNode(query_id=query_id, node_id=node.node_id, cameras=cameras,
                                      task_id=task_id(query_id, node.node_id),
                                      status="pending"))
    send_parts(svc, AGGREGATE_TASK, query_id, AggregateNode, (
        (node.node_id, _signed_request(svc, AggregateRequest(
            query_id=query_id, node_id=node.node_id, site=node.site_id, kind=body.kind,
            cameras=tuple(cameras), window=body.window, epsilon=decimal(body.epsilon),
            delta=decimal(body.delta), issued_at=now, log_index=index)))
        for node, cameras in plan))
    return _view(svc, query_id)


def _signed_request(svc: Coordinator, request: AggregateRequest) -> SignedAggregateRequest:
    return SignedAggregateRequest(request=request, signature=request.sign(svc.keys.dispatch))


def _checked(answer: dict[str, Any], query_id: str, node_id: str, key: str
             ) -> tuple[str, str | None, str | None, dict[str, Any] | None]:
    if "failed" in answer:
        return "failed", "node_error", str(answer["failed"]), None
    try:
        signed = SignedAggregateResult.model_validate(answer)
    except ValidationError:
        return "failed", "bad_answer", "the answer is not a signed aggregate result", None
    result = signed.result
    if (not result.signed_by(VerifyKey.parse(key), signed.signature)
            or result.query_id != query_id or result.node_id != node_id):
        return "failed", "bad_signature", "the answer is not signed by this node", None
    return result.status, result.reason, result.detail, signed.model_dump(mode="json")


def _collect(svc: Coordinator, question: Aggregate) -> None:
    now = svc.clock()
    with svc.session() as session:
        parts = session.scalars(select(AggregateNode).where(
            AggregateNode.query_id == question.query_id,
            AggregateNode.status == "pending")).all()
        keys = dict(session.execute(select(Node.node_id, Node.identity_key)).all())
        sites = dict(session.execute(select(Node.node_id, Node.site_id)).all())
    for part in parts:
        answer = collect(svc.dispatcher, part.task_id, as_utc(question.deadline), now)
        if answer is None:
            continue
        reason: str | None  # a node's own answer may leave these out
        detail: str | None
        result: dict[str, Any] | None
        if answer is TIMED_OUT:
            status, reason, detail, result = ("unreachable", "timeout",
                                              "no answer before the deadline", None)
        else:
            status, reason, detail, result = _checked(answer, question.query_id, part.node_id,
                                                      keys[part.node_id])
        body = result["result"] if result else {}
        spent = (PrivacyLoss.of(float(body.get("epsilon", "0")), float(body.get("delta", "0")))
                 if status == "answered" else None)
        svc.log(Event(actor=svc.actor("coordinator", "system", "city"),
                      action=Action.AGGREGATE_RELEASED, legal_basis=LegalBasis.STATUTE,
                      purpose_code=PURPOSE, outcome=status,
                      scope=Scope(sites=(sites[part.node_id],)), privacy_loss=spent,
                      counts_returned=len(body.get("cells", ())),
                      details={"query_id": question.query_id, "node_id": part.node_id,
                               "reason": reason, "epsilon": body.get("epsilon", "0"),
                               "delta": body.get("delta", "0"),
                               "node_log_index": body.get("node_log_index")}))
        with svc.session() as session:
            row = session.get_one(AggregateNode, (question.query_id, part.node_id))
            row.status, row.reason, row.detail, row.result = status, reason, detail, result
            row.answered_at = now


def _view(svc: Coordinator, query_id: str) -> dict[str, Any]:
    with svc.session() as session:
        question = session.get_one(Aggregate, query_id)
        parts = session.scalars(select(AggregateNode).where(AggregateNode.query_id == query_id)
                                .order_by(AggregateNode.node_id)).all()
        sites = dict(session.execute(select(Node.node_id, Node.site_id)).all())
    nodes = []
    for part in parts:
        body = part.result["result"] if part.result else {}
        nodes.append({"node_id": part.node_id, "site_id": sites.get(part.node_id),
                      "status": part.status, "reason": part.reason, "detail": part.detail,
                      **{k: body.get(k) for k in ("mechanism", "noise_scale", "epsilon", "delta",
                                                  "suppressed_below", "epsilon_left",
                                                  "budget")},
                      "cells": body.get("cells", [])})
    return {"query_id": query_id, "kind": question.kind, "epsilon": question.epsilon,
            "delta": question.delta,
            "window": {"start": as_utc(question.window_start).isoformat(),
                       "end": as_utc(question.window_end).isoformat()},
            "status": "pending" if any(n["status"] == "pending" for n in nodes) else "complete",
            "nodes": nodes}


def read(svc: Coordinator, who: Principal, query_id: str, wait: float) -> dict[str, Any]:
    """Collect the answers that have arrived (for up to ``wait`` seconds while some are
    pending) and the question's noisy answers, per node."""
    until = time.monotonic() + wait
    while True:
        with svc.session() as session:
            question = session.get(Aggregate, query_id)
        if question is None or (who.role == Role.PLANNER
                                and question.requested_by != who.username):
            raise not_found(f"aggregate question {query_id}")
        _collect(svc, question)
        view = _view(svc, query_id)
        if view["status"] == "complete" or time.monotonic() >= until:
            return view
        time.sleep(0.2)


def budgets(svc: Coordinator) -> list[dict[str, Any]]:
    """Each active node's privacy budget as it last stated it, signed, in an answer to an
    aggregate question (answered, or refused for its budget): the accounting period (a calendar
    month in the node's time zone), what that period and the node's lifetime spent and have
    left. The node enforces it; this only reports it. ``period_ended``: the coordinator's clock
    is past the reported period's end, so the node has started a new period since (whose
    spending it has not reported yet). ``epsilon_left_estimate``: what one more question may
    spend there as far as the coordinator knows (the reported ``epsilon_left``; after the
    period ended, the smaller of a fresh period's budget and the lifetime left), an upper
    bound: trainings spend too, and the node decides. A node that has answered no question has
    ``budget`` and the estimate None; one whose newest answer predates budget reports, ``budget``
    None and that answer's ``epsilon_left``. The newest report per node is one bounded query
    (``coordinator.budget_reports``), the one the planner's page reads."""
    now = svc.clock()
    with svc.session() as session:
        nodes = session.scalars(select(Node).where(Node.active).order_by(Node.node_id)).all()
        latest = budget_reports.newest(session, [n.node_id for n in nodes])
    out = []
    for node in nodes:
        last = latest.get(node.node_id)
        body = (last.result or {}).get("result", {}) if last else {}
        budget = body.get("budget")
        ended, left = (False, body.get("epsilon_left")) if not budget else estimate(budget, now)
        guess = None if left is None else str(left)
        out.append({"node_id": node.node_id, "site_id": node.site_id,
                    "query_id": last.query_id if last else None,
                    "reported_at": as_utc(last.answered_at).isoformat()
                    if last and last.answered_at else None,
                    "period_ended": ended, "epsilon_left_estimate": guess,
                    "budget": budget})
    return out
