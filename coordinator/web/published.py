"""The transparency report as the portal publishes it: computed from the coordinator's own log
up to its latest signed checkpoint, with that checkpoint and the log's verifier key, so that a
citizen's browser (or ``safecity audit report``) can recompute every number and check it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audit.bundle import Bundle
from audit.checkpoint import open_checkpoint
from audit.log import AuditLog
from audit.note import NoteVerifier
from audit.records import PublicRecord
from audit.transparency import transparency_report
from audit.verify import verify_bundle
from kernel.errors import VerificationError

# v2: refusals_by_reason and the recent window; a stored v1 report is recomputed, not shown
FORMAT = "safecity-transparency-report/v2"


@dataclass(frozen=True)
class Published:
    report: dict[str, Any]
    checkpoint: str  # the signed note the report covers
    log_key: str  # vkey of the log's signer
    problems: tuple[str, ...]  # what the coordinator's own check of its log found
    computed_at: str  # ISO 8601, UTC

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "report": self.report, "checkpoint": self.checkpoint,
                "log_key": self.log_key, "computed_at": self.computed_at,
                "server_check": {"ok": not self.problems, "problems": list(self.problems)}}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Published:
        if body.get("format") != FORMAT:
            raise VerificationError(f"stored report: format {body.get('format')!r}")
        return cls(body["report"], body["checkpoint"], body["log_key"],
                   tuple(body["server_check"]["problems"]), body["computed_at"])


def publish(log: AuditLog, now: datetime | None = None) -> Published:
    """The report over the entries the newest signed checkpoint covers.

    The coordinator checks its own log first and says what it found, but publishes either way,
    at its newest signed checkpoint: falling back quietly to an older checkpoint that still
    verifies would hide the damage, and the citizen's check does not rest on this one."""
    verifier = log.signer.verifier
    bundle: Bundle = log.bundle()
    checked = verify_bundle(bundle, verifier)
    head = _newest(bundle, verifier)  # not an older one that still verifies: the newest
    size, root = 0, b""
    if head is not None:
        checkpoint, _ = open_checkpoint(head, verifier)
        size, root = checkpoint.size, checkpoint.root
    records = []
    for entry in sorted(bundle.entries, key=lambda e: e.index)[:size]:
        try:
            records.append(PublicRecord.from_leaf(entry.data))
        except VerificationError:
            continue  # named in the problems already
    return Published(transparency_report(records, root), head or "", verifier.vkey(),
                     tuple(str(p) for p in checked.problems[:50]),
                     (now or datetime.now(UTC)).isoformat())


def _newest(bundle: Bundle, verifier: NoteVerifier) -> str | None:
    best: tuple[int, str] | None = None
    for text in bundle.checkpoints:
        try:
            checkpoint, _ = open_checkpoint(text, verifier)
        except VerificationError:
            continue
        if best is None or checkpoint.size > best[0]:
            best = (checkpoint.size, text)
    return best[1] if best else None
