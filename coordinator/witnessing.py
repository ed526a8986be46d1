"""Getting the audit log's newest checkpoint cosigned by the city's witnesses.

Before a query leaves the coordinator, its warrant's receipt must rest on a checkpoint that at
least ``witness_quorum`` witnesses cosigned (c2sp.org/tlog-witness), because nodes believe
nothing less. The coordinator asks every witness that has not cosigned the newest checkpoint
yet, in parallel and with a deadline, proving consistency from the size each one holds; a witness
that is down, slow or answers garbage simply does not count. Fewer than the quorum is a clear
error, never a hang.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat

from audit.checkpoint import Checkpoint
from audit.cosignature import CosignerKey
from audit.errors import AuditError
from audit.log import AuditLog
from audit.note import Note, Signature
from audit.witness_client import (
    WitnessDisagrees,
    WitnessEndpoint,
    WitnessUnavailable,
    add_checkpoint,
    witness_endpoint,
)
from coordinator.errors import WitnessQuorumError
from kernel.errors import SafecityError

log = logging.getLogger(__name__)
ROUNDS = 3  # the newest checkpoint may move on while witnesses are asked; try again this often



class Witnessing:
    def __init__(self, audit: AuditLog, endpoints: Sequence[WitnessEndpoint], quorum: int,
                 timeout: float):
        self.audit = audit
        self.endpoints = list(endpoints)
        self.quorum = quorum
        self.timeout = timeout

    def keys(self) -> list[CosignerKey]:
        return [e.key for e in self.endpoints]

    def witnessed(self) -> str:
        """The newest checkpoint with at least the quorum of cosignatures, as note text."""
        if not self.endpoints:
            raise WitnessQuorumError("no witnesses are configured (witnesses, "
                                     "witness_quorum): nodes believe no checkpoint without them")
        reasons: dict[str, str] = {}
        for _ in range(ROUNDS):
            checkpoint, note = self._newest()
            missing = [e for e in self.endpoints if not _cosigned_by(e.key, note)]
            if len(self.endpoints) - len(missing) >= self.quorum:
                return note.format()
            retry = False
            with ThreadPoolExecutor(max_workers=len(missing)) as pool:
                outcomes = list(pool.map(self._ask, missing, repeat(checkpoint), repeat(note)))
            for endpoint, outcome in zip(missing, outcomes, strict=True):
                if isinstance(outcome, Signature):
                    self.audit.add_cosignature(note.with_signature(outcome).format())
                    reasons.pop(endpoint.key.name, None)
                else:
                    reasons[endpoint.key.name] = str(outcome)
                    retry |= isinstance(outcome, WitnessDisagrees)
            _, note = self._newest_at(checkpoint)
            have = sum(_cosigned_by(e.key, note) for e in self.endpoints)
            if have >= self.quorum:
                return note.format()
            if not retry:
                break
        said = "; ".join(f"{name}: {why}" for name, why in sorted(reasons.items()))
        raise WitnessQuorumError(f"the audit log's checkpoint is cosigned by fewer than "
                                 f"{self.quorum} witness(es) ({said})")

    def _newest(self) -> tuple[Checkpoint, Note]:
        latest = self.audit.latest_checkpoint()
        if latest is None:
            raise AuditError("the audit log is empty: no checkpoint yet")
        # another process may have appended since this one last read the log (the web app
        # logs, the worker witnesses a clip request's entry): its tree must reach the
        # checkpoint, read first since it commits with its entries, or the witnesses'
        # cosignatures are refused as "not one of this log's"
        self.audit.refresh()
        return self._newest_at(latest[0])

    def _newest_at(self, checkpoint: Checkpoint) -> tuple[Checkpoint, Note]:
        """The checkpoint of this size with every cosignature stored for it."""
        return checkpoint, self.audit.checkpoint_at(checkpoint.size)

    def _ask(self, endpoint: WitnessEndpoint, checkpoint: Checkpoint, note: Note
             ) -> Signature | WitnessUnavailable:
        old = self._held(endpoint.key.name)
        for _ in range(2):  # a second try from the size the witness says it holds
            try:
                proof = (self.audit.consistency_proof(old, checkpoint.size)
                         if 0 < old < checkpoint.size else [])
                return add_checkpoint(endpoint, note, old, proof, self.timeout)
            except WitnessDisagrees as exc:
                if exc.size == old or exc.size > checkpoint.size:
                    return exc
                old = exc.size
            except WitnessUnavailable as exc:
                log.warning("witness %s did not cosign size %d: %s", endpoint.key.name,
                            checkpoint.size, exc)
                return exc
            except AuditError as exc:
                return WitnessUnavailable(f"no consistency proof from size {old} ({exc})")
        return WitnessUnavailable("did not settle on a size")

    def _held(self, witness: str) -> int:
        """The largest size this witness cosigned, as far as this log knows."""
        return self.audit.cosigned_size(witness)


def _cosigned_by(key: CosignerKey, note: Note) -> bool:
    try:
        key.verify(note)
    except SafecityError:
        return False
    return True


def witnessing_from(audit: AuditLog, witnesses: Sequence[tuple[str, str, str | None]],
                    quorum: int, timeout: float) -> Witnessing:
    """From settings: ``(url, vkey, ca)``, ``ca`` the CA file (PEM) the witness's HTTPS
    certificate must chain to (None: the system's CAs)."""
    endpoints = [witness_endpoint(CosignerKey.from_vkey(k), u, ca) for u, k, ca in witnesses]
    return Witnessing(audit, endpoints, quorum, timeout)

