"""Each node's newest statement of its privacy budget, from the aggregate answers the
coordinator holds: the newest answer (answered, or refused for its budget) whose signed body
states what the node has left, per node, in one query.

A node states its budget in every answer and budget refusal (``budget``, a ``BudgetReport``);
an answer from before budget reports carries only ``epsilon_left``. The query reads one row per
node, however many answers are stored: for each node a subquery walks that node's answers
newest first (the ``(node_id, answered_at)`` index) and stops at the first that states a
budget; the filter reads the JSON in SQL (``#>>`` on PostgreSQL, ``JSON_EXTRACT`` on SQLite),
both of which give SQL NULL for a missing or JSON-null key."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session, aliased

from coordinator.db import AggregateNode, Node

STATING = ("answered", "refused")


def _states_budget(part: Any) -> ColumnElement[bool]:
    """The answer's signed body states the node's budget (or, before budget reports, an
    answer's ``epsilon_left``)."""
    return or_(part.result[("result", "budget")].as_string().is_not(None),
               and_(part.status == "answered",
                    part.result[("result", "epsilon_left")].as_string().is_not(None)))


def newest_query(node_ids: Collection[str]) -> Select[AggregateNode]:
    """The statement: per node of ``node_ids``, its newest answer that states its budget."""
    part = aliased(AggregateNode)
    newest = (select(part.query_id)
              .where(part.node_id == Node.node_id, part.status.in_(STATING),
                     part.answered_at.is_not(None), _states_budget(part))
              .order_by(part.answered_at.desc(), part.query_id.desc())
              .limit(1).correlate(Node).scalar_subquery())
    return (select(AggregateNode)
            .join(Node, and_(AggregateNode.node_id == Node.node_id,
                             AggregateNode.query_id == newest))
            .where(Node.node_id.in_(list(node_ids))))


def newest(session: Session, node_ids: Collection[str]) -> dict[str, AggregateNode]:
    """Each node's newest answer that states its budget, by node id (a node that has stated
    none is absent)."""
    if not node_ids:
        return {}
    return {part.node_id: part for part in session.scalars(newest_query(node_ids))}
