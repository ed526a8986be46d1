"""Searching the audit trail (pure filtering over public records) and checking one entry's
inclusion proof against the log's newest signed checkpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from audit.checkpoint import open_checkpoint
from audit.errors import AuditError
from audit.log import AuditLog
from audit.merkle import leaf_hash, verify_inclusion
from audit.records import PublicRecord, parse_time
from kernel.errors import VerificationError


@dataclass(frozen=True)
class TrailFilter:
    actors: frozenset[str] = frozenset()  # pseudonyms
    action: str | None = None
    legal_basis: str | None = None
    documents: frozenset[str] | None = None  # warrant or consent ids (a case's), None: any
    since: datetime | None = None
    until: datetime | None = None

    def admits(self, record: PublicRecord) -> bool:
        if self.actors and record.actor.pseudonym not in self.actors and not (
                record.second_approver and record.second_approver.pseudonym in self.actors):
            return False
        if self.action and record.action.value != self.action:
            return False
        if self.legal_basis and record.legal_basis.value != self.legal_basis:
            return False
        if self.documents is not None and not (
                {record.warrant_id, record.consent_id} & self.documents):
            return False
        moment = parse_time(record.time)
        return not ((self.since and moment < self.since)
                    or (self.until and moment >= self.until))


def search(log: AuditLog, wanted: TrailFilter, limit: int = 200
           ) -> list[tuple[int, PublicRecord]]:
    """The newest ``limit`` entries that pass ``wanted``, newest first."""
    found = [(i, r) for i, r in _all(log) if wanted.admits(r)]
    return found[::-1][:limit]


def _all(log: AuditLog, page: int = 1000) -> Iterator[tuple[int, PublicRecord]]:
    start = 0
    while batch := log.entries(start, page):
        for entry in batch:
            yield entry.index, entry.record
        start = batch[-1].index + 1


@dataclass(frozen=True)
class Integrity:
    ok: bool
    size: int
    root: str
    proof: tuple[str, ...]
    reason: str


def check_entry(log: AuditLog, index: int) -> Integrity:
    """Whether entry ``index`` is in the tree the newest signed checkpoint commits to."""
    try:
        note = log.checkpoint()
        checkpoint, _ = open_checkpoint(note, log.signer.verifier)
        entry = log.entry(index)
        if index >= checkpoint.size:
            return Integrity(False, checkpoint.size, checkpoint.root.hex(), (),
                             "not yet covered by a signed checkpoint")
        proof = log.inclusion_proof(index, checkpoint.size)
        verify_inclusion(leaf_hash(entry.data), index, checkpoint.size, proof, checkpoint.root)
    except (AuditError, VerificationError) as exc:
        return Integrity(False, 0, "", (), str(exc))
    return Integrity(True, checkpoint.size, checkpoint.root.hex(),
                     tuple(p.hex() for p in proof),
                     "the entry's leaf hash and this proof give the signed root")


def pseudonyms(names: Iterable[str], pseudonym_of: Callable[[str], str]) -> frozenset[str]:
    """What a DPO typed (usernames or pseudonyms) as the pseudonyms the log records."""
    out = set()
    for name in (n.strip() for n in names):
        if name:
            out.update({name, pseudonym_of(name)})
    return frozenset(out)
