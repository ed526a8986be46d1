"""Receipts: one entry, its inclusion proof, and the signed checkpoint it is proven against."""

from __future__ import annotations

from audit.bundle import Receipt
from audit.checkpoint import Checkpoint
from audit.log import AuditLog
from audit.note import parse_note
from privacy.errors import AuditError


def make_receipt(log: AuditLog, index: int) -> Receipt:
    note = log.checkpoint()
    size = Checkpoint.from_text(parse_note(note).text).size
    if not 0 <= index < size:
        raise AuditError(f"no audit entry {index} under the latest checkpoint (size {size})")
    entry = log.entry(index)
    return Receipt(index, entry.data, tuple(log.inclusion_proof(index, size)), note)
