"""Verifying the log as an outsider: recompute the tree from the entries and check every
checkpoint, signature, cosignature and proof, reporting exactly what is wrong and where."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.bundle import Bundle, Receipt, unb64
from audit.checkpoint import Checkpoint, open_checkpoint
from audit.cosignature import CosignerKey
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from audit.note import NoteVerifier
from audit.records import PublicRecord
from audit.tree import MerkleTree
from kernel.errors import VerificationError


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    cosignatures: int = 0
    proofs: int = 0
    size: int = 0
    root: bytes = b""
    head: str | None = None  # the signed note of the largest verified checkpoint
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, what: str) -> None:
        self.problems.append(Problem(where, what))


def _check_entries(bundle: Bundle, report: Report) -> MerkleTree:
    """Rebuild the tree from the entries in the order the log presents them."""
    indices = [entry.index for entry in bundle.entries]
    counts: dict[int, int] = {}
    for index in indices:
        counts[index] = counts.get(index, 0) + 1
    for index in sorted(i for i, n in counts.items() if n > 1):
        report.add(f"entry {index}", "appears more than once (inserted or duplicated)")
    expected = set(range(len(set(indices))))
    for index in sorted(expected - set(indices))[:20]:
        report.add(f"entry {index}", "is missing (deleted, or entries were renumbered)")
    for position, index in enumerate(indices):
        if index != position:
            report.add(f"entry {index}", f"is out of place at position {position}")
            break
    tree = MerkleTree()
    for entry in bundle.entries:
        digest = leaf_hash(entry.data)
        if entry.leaf_hash is not None and entry.leaf_hash != digest:
            report.add(f"entry {entry.index}", "its data does not match its stored leaf hash "
                                                "(altered)")
        try:
            PublicRecord.from_leaf(entry.data)
        except VerificationError as exc:
            report.add(f"entry {entry.index}", f"is not a valid public audit record ({exc})")
        tree.append(digest)
    report.entries = tree.size
    return tree


def verify_bundle(
    bundle: Bundle,
    log_key: NoteVerifier,
    witnesses: Sequence[CosignerKey] = (),
    previous: Checkpoint | None = None,
) -> Report:
    """Check everything in ``bundle``; ``previous`` is a checkpoint the verifier saw before."""
    report = Report()
    if bundle.origin != log_key.name:
        report.add("bundle", f"origin {bundle.origin!r} is not the log key's {log_key.name!r}")
    tree = _check_entries(bundle, report)
    by_size: dict[int, bytes] = {}
    good: list[Checkpoint] = []
    notes: dict[int, str] = {}
    last_good_size = 0
    for position, text in enumerate(bundle.checkpoints):
        where = f"checkpoint #{position}"
        try:
            checkpoint, note = open_checkpoint(text, log_key)
        except VerificationError as exc:
            report.add(where, f"rejected: {exc}")
            continue
        where = f"checkpoint of size {checkpoint.size}"
        report.checkpoints += 1
        if checkpoint.size in by_size and by_size[checkpoint.size] != checkpoint.root:
            report.add(where, "fork: another signed checkpoint of this size has a different root")
        by_size.setdefault(checkpoint.size, checkpoint.root)
        for witness in witnesses:
            try:
                witness.verify(note)
                report.cosignatures += 1
            except VerificationError as exc:
                if any(s.name == witness.name for s in note.signatures):
                    report.add(where, str(exc))
        if checkpoint.size > tree.size:
            report.add(where, f"signs {checkpoint.size} entries but only {tree.size} are present "
                              "(the log was truncated)")
            continue
        if tree.root(checkpoint.size) != checkpoint.root:
            report.add(where, "root does not match the entries: an entry in "
                              f"[{last_good_size}, {checkpoint.size}) was altered, removed, "
                              "inserted or reordered")
            continue
        last_good_size = max(last_good_size, checkpoint.size)
        good.append(checkpoint)
        notes[checkpoint.size] = text
    if not good and bundle.entries:
        report.add("log", "no checkpoint verifies against the entries")
    for older, newer in itertools.pairwise(good):
        if older.size and older.size < newer.size:
            verify_consistency(older.size, newer.size,
                               tree.consistency_proof(older.size, newer.size),
                               older.root, newer.root)
            report.proofs += 1
    if good:
        head = max(good, key=lambda c: c.size)
        report.size, report.root, report.head = head.size, head.root, notes[head.size]
        if head.size < tree.size:
            report.add("log", f"entries {head.size}..{tree.size - 1} are not covered by any "
                              "signed checkpoint")
    if previous is not None:
        _check_previous(previous, tree, report)
    return report


def _check_previous(previous: Checkpoint, tree: MerkleTree, report: Report) -> None:
    where = f"previously seen checkpoint of size {previous.size}"
    if previous.size > tree.size:
        report.add(where, "the log is now smaller than what was seen before (rollback)")
    elif previous.size and tree.root(previous.size) != previous.root:
        report.add(where, "the log's history differs from what was seen before (fork)")


def verify_receipt(
    receipt: Receipt, log_key: NoteVerifier, witnesses: Sequence[CosignerKey] = ()
) -> tuple[PublicRecord, Checkpoint]:
    """Check a receipt offline; return the record it proves and the checkpoint it rests on."""
    checkpoint, note = open_checkpoint(receipt.checkpoint, log_key)
    for witness in witnesses:
        witness.verify(note)
    record = PublicRecord.from_leaf(receipt.data)
    verify_inclusion(receipt.leaf_hash, receipt.index, checkpoint.size, list(receipt.proof),
                     checkpoint.root)
    return record, checkpoint


def check_server_proofs(
    bundle: Bundle,
    log_key: NoteVerifier,
    fetch: Callable[[str], Any],
    report: Report,
    samples: int = 1000,
) -> None:
    """Ask a running log for its own proofs and check them against its signed checkpoints: a
    server that answers proofs inconsistent with its history is caught here."""
    sizes = sorted({open_checkpoint(text, log_key)[0].size for text in bundle.checkpoints})
    roots = {}
    for text in bundle.checkpoints:
        checkpoint, _ = open_checkpoint(text, log_key)
        roots[checkpoint.size] = checkpoint.root
    tree = MerkleTree(leaf_hash(e.data) for e in bundle.entries)
    for first, second in itertools.pairwise(sizes):
        if first == 0:
            continue
        body = fetch(f"/audit/proofs/consistency?first={first}&second={second}")
        proof = [unb64(p, "consistency proof") for p in body["proof"]]
        try:
            verify_consistency(first, second, proof, roots[first], roots[second])
            report.proofs += 1
        except VerificationError as exc:
            report.add(f"server consistency proof {first}->{second}", str(exc))
    if not sizes:
        return
    head = sizes[-1]
    step = max(1, head // samples)
    for index in sorted(set(range(0, head, step)) | {head - 1}):
        body = fetch(f"/audit/proofs/inclusion?index={index}&size={head}")
        proof = [unb64(p, "inclusion proof") for p in body["proof"]]
        try:
            verify_inclusion(tree.leaf(index), index, head, proof, roots[head])
            report.proofs += 1
        except VerificationError as exc:
            report.add(f"server inclusion proof for entry {index}", str(exc))
