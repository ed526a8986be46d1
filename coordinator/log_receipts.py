"""Receipts a node believes: an audit entry proven under the newest checkpoint that the
witnesses' quorum cosigned (nodes believe nothing less), with the consistency proof from the
log size the node holds. A query carries its warrant's registration, a clip request its own
logged entry, and the warrant API hands them out; all three take them from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit.checkpoint import Checkpoint
from audit.note import parse_note
from audit.prove import make_receipt
from contract.queries import LogConsistency
from coordinator.node_log_heads import consistency_for
from coordinator.service import Coordinator


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint with the witnesses' quorum of cosignatures (note text) and its size."""

    note: str
    size: int

    def covers(self, index: int) -> bool:
        return 0 <= index < self.size

    def receipt(self, svc: Coordinator, index: int) -> dict[str, Any]:
        """Entry ``index`` with its inclusion proof under this checkpoint, as JSON."""
        return make_receipt(svc.audit, index, self.note).to_json()

    def consistency(self, svc: Coordinator, held_size: int) -> LogConsistency | None:
        """The proof a node holding ``held_size`` (0: none) needs to accept this checkpoint."""
        return consistency_for(svc, held_size, self.size)


def witnessed(svc: Coordinator) -> Witnessed:
    """The newest witnessed checkpoint, the witnesses asked for cosignatures as needed.
    Raises ``WitnessQuorumError`` (or ``AuditError`` on an empty log)."""
    note = svc.witnessing.witnessed()
    return Witnessed(note, Checkpoint.from_text(parse_note(note).text).size)
