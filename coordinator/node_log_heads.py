"""What the coordinator knows of the log each node holds: the largest witnessed checkpoint size
it last reported (in signed answers and export reports), and the consistency proof from there
that the node demands with its next receipt (RFC 9162 2.1.4)."""

from __future__ import annotations

import base64
import logging

from sqlalchemy import update

from coordinator.db import Node
from coordinator.service import Coordinator
from privacy.errors import AuditError
from privacy.queries import LogConsistency

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
