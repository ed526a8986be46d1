"""Sending one signed message per node, each on the node's own queue, for a question asked of
several nodes (a watchlist query, an aggregate question), and remembering who was not reached."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TypeVar

from pydantic import BaseModel

from coordinator.db import AggregateNode, QueryNode
from coordinator.errors import DispatchError
from coordinator.service import Coordinator

log = logging.getLogger(__name__)
Part = TypeVar("Part", QueryNode, AggregateNode)  # a node's part of a question
MAX_WAIT = 60  # seconds a reader may wait for the nodes' answers in one request


def task_id(query_id: str, node_id: str) -> str:
    """The Celery task (and result) id of one node's part of a query."""
    return f"{query_id}.{node_id}"


def send_parts(svc: Coordinator, task: str, query_id: str,
               part: type[Part],
               messages: Iterable[tuple[str, BaseModel]]) -> None:
    """Send each ``(node_id, signed message)`` (signed as it is drawn, after the question is
    logged and its parts stored); a part the broker did not take is marked failed, so that
    whoever reads the question sees which node was not asked and why."""
    for node_id, message in messages:
        try:
            svc.dispatcher.send(task, message.model_dump(mode="json"), node_id,
                                task_id(query_id, node_id))
        except DispatchError as exc:
            with svc.session() as session:
                row = session.get_one(part, (query_id, node_id))
                row.status, row.reason, row.detail = "failed", "broker_unavailable", str(exc)
            log.warning("%s not sent to node %s: broker unavailable", task, node_id)
