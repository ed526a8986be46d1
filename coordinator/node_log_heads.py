"""What the coordinator knows of the log each node holds: the largest witnessed checkpoint size
it last reported (in signed answers and export reports), and the consistency proof from there
that the node demands with its next receipt (RFC 9162 2.1.4)."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import select, update

from coordinator.db import Node, Query, QueryNode
from coordinator.query_messages import open_result
from coordinator.service import Coordinator
from privacy.errors import AuditError, SafecityError
from privacy.queries import LogConsistency
from privacy.signing import VerifyKey

LATE = "answered_late"  # an unreachable part whose answer came after the deadline
RESULTS_KEPT = timedelta(days=1)  # Celery's result_expires default: older answers are gone

log = logging.getLogger(__name__)


def consistency_for(svc: Coordinator, held_size: int, size: int) -> LogConsistency | None:
    """The proof between the size a node holds and the receipt's, smaller to larger."""
    if held_size <= 0:
        return None
    low, high = sorted((held_size, size))
    try:
        proof = svc.audit.consistency_proof(low, high) if low < high else []
    except AuditError:  # a size this log never had: only that node's own queries suffer
        log.warning("a node reports holding log size %d, beyond this log", held_size)
        return None
    return LogConsistency(held_size=held_size,
                          proof=tuple(base64.b64encode(p).decode() for p in proof))


def note_log_size(svc: Coordinator, node_id: str, size: int) -> None:
    """Remember the witnessed log size the node holds, to prove consistency from it next time
    (it only grows at the node, so the largest signed report wins)."""
    with svc.session() as session:
        session.execute(update(Node).where(
            Node.node_id == node_id,
            (Node.witnessed_size.is_(None)) | (Node.witnessed_size < size)
        ).values(witnessed_size=size))


def held_sizes(svc: Coordinator, node_ids: list[str]) -> dict[str, int]:
    """The largest witnessed log size each node is known to hold (0: none), late answers
    included: a few statements for the whole plan, not a round trip per node."""
    catch_up(svc, node_ids)
    with svc.session() as session:
        rows = session.execute(select(Node.node_id, Node.witnessed_size)
                               .where(Node.node_id.in_(node_ids))).all()
    return {node_id: int(size or 0) for node_id, size in rows}


def catch_up(svc: Coordinator, node_ids: list[str]) -> None:
    """Read the answers nodes sent after their queries' deadlines (a site whose link was down
    answers what waited in its queue once it is back): each one carries the log size the node
    then accepted, which the next proof must start from. Only the size is taken: the query stays
    unreachable for its requester, its reason becomes ``answered_late``, and it is not read
    again. Answers older than the result store keeps them are not looked for."""
    since = svc.clock() - RESULTS_KEPT
    with svc.session() as session:
        parts = session.execute(
            select(QueryNode.query_id, QueryNode.node_id, QueryNode.task_id, Node.identity_key)
            .join(Query).join(Node, Node.node_id == QueryNode.node_id)
            .where(QueryNode.node_id.in_(node_ids), QueryNode.status == "unreachable",
                   QueryNode.reason != LATE, Query.created_at >= since)).all()
    for query_id, node_id, task_id, key in parts:
        answer = svc.dispatcher.answer(task_id)
        if not answer:
            continue
        try:
            signed = open_result(answer, svc.keys.sealing, query_id, node_id)
        except (ValidationError, SafecityError, ValueError):
            continue
        result = signed.result
        if not (result.signed_by(VerifyKey.parse(key), signed.signature)
                and result.query_id == query_id and result.node_id == node_id):
            continue
        if result.log_size is not None:
            note_log_size(svc, node_id, result.log_size)
        with svc.session() as session:
            session.get(QueryNode, (query_id, node_id)).reason = LATE
