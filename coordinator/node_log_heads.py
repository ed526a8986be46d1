"""What the coordinator knows of the log each node holds: the largest witnessed checkpoint size
it last reported (in signed answers and export reports), and the consistency proof from there
that the node demands with its next receipt (RFC 9162 2.1.4)."""

from __future__ import annotations

import base64
import logging

from pydantic import ValidationError
from sqlalchemy import select, update

from audit.errors import AuditError
from contract.queries import LogConsistency
from coordinator.db import Node, Query, QueryNode
from coordinator.query_messages import open_result
from coordinator.service import Coordinator
from kernel.errors import SafecityError
from privacy.signing import VerifyKey

LATE = 20  # the node's most recent parts marked unreachable that are looked at again

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


def held_size(svc: Coordinator, node_id: str) -> int:
    """The largest witnessed log size the node is known to hold (0: none), late answers
    included."""
    catch_up(svc, node_id)
    with svc.session() as session:
        return int(session.scalar(select(Node.witnessed_size).where(Node.node_id == node_id))
                   or 0)


def catch_up(svc: Coordinator, node_id: str) -> None:
    """Read the answers a node sent after its queries' deadlines (a site whose link was down
    answers what waited in its queue once it is back): each one carries the log size the node
    then accepted, which the next proof must start from. Only the size is taken; the query
    stays unreachable for its requester."""
    with svc.session() as session:
        parts = session.execute(
            select(QueryNode.query_id, QueryNode.task_id).join(Query)
            .where(QueryNode.node_id == node_id, QueryNode.status == "unreachable")
            .order_by(Query.created_at.desc()).limit(LATE)).all()
        key = session.scalar(select(Node.identity_key).where(Node.node_id == node_id))
    for query_id, task_id in parts:
        answer = svc.dispatcher.answer(task_id)
        if not answer or "sealed" not in answer:
            continue
        try:
            signed = open_result(answer, svc.keys.sealing, query_id, node_id)
        except (ValidationError, SafecityError, ValueError):
            continue
        result = signed.result
        if (key and result.signed_by(VerifyKey.parse(key), signed.signature)
                and result.query_id == query_id and result.node_id == node_id
                and result.log_size is not None):
            note_log_size(svc, node_id, result.log_size)
