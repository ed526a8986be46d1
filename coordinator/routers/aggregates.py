"""``/aggregates``: planners' aggregate questions, answered by each node with differential
privacy from its own budget (the use cases are in ``coordinator.services.aggregates``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi import Query as QueryParam

from coordinator.auth import Principal, require, service
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services import aggregates
from coordinator.services.fan_out import MAX_WAIT
from coordinator.services.requests import NewAggregate

router = APIRouter(prefix="/aggregates", tags=["aggregates"])


@router.post("", status_code=202, summary="Ask an aggregate question (planner)")
def ask(body: NewAggregate, response: Response,
        who: Principal = Depends(require(Permission.AGGREGATE_QUERY)),
        svc: Coordinator = Depends(service)) -> dict[str, Any]:
    view = aggregates.ask(svc, who, body)
    response.headers["Location"] = f"/aggregates/{view['query_id']}"
    return view


@router.get("/budgets", summary="Each node's privacy budget, as it last reported it")
def get_budgets(who: Principal = Depends(require(Permission.AGGREGATE_READ)),
                svc: Coordinator = Depends(service)) -> dict[str, Any]:
    """Per active node: the accounting period (``budget.period`` "month", ``time_zone``,
    ``period_label``, ``period_start``, ``period_end``), ``period_epsilon`` with its
    ``_spent`` and ``_left``, the lifetime cap ``lifetime_epsilon`` with its ``_spent`` and
    ``_left`` (the same for delta), and ``epsilon_left``: what one more question may spend
    there (the smaller of the two lefts), as of the node's answer at ``reported_at``."""
    return {"nodes": aggregates.budgets(svc)}


@router.get("/{query_id}", summary="An aggregate question's noisy answers, per node")
def get_aggregate(query_id: str, wait: float = QueryParam(0, ge=0, le=MAX_WAIT),
                  who: Principal = Depends(require(Permission.AGGREGATE_READ)),
                  svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return aggregates.read(svc, who, query_id, wait)
