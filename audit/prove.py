"""Receipts: one entry, its inclusion proof, and the signed checkpoint it is proven against."""

from __future__ import annotations

from audit.bundle import Receipt
from audit.checkpoint import Checkpoint
from audit.errors import AuditError
from audit.log import AuditLog
from audit.note import parse_note


def make_receipt(log: AuditLog, index: int, checkpoint: str | None = None) -> Receipt:
    """A receipt for entry ``index`` under ``checkpoint`` (note text; default: the newest,
    with whatever cosignatures it has), which must be one of this log's."""
    note = log.checkpoint() if checkpoint is None else checkpoint
    size = Checkpoint.from_text(parse_note(note).text).size
    if not 0 <= index < size:
        raise AuditError(f"no audit entry {index} under the checkpoint of size {size}")
    entry = log.entry(index)
    return Receipt(index, entry.data, tuple(log.inclusion_proof(index, size)), note)
