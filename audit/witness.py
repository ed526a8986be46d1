"""A witness: cosigns a log's checkpoint only if it is consistent with everything it saw before.

It keeps, per log origin, the largest checkpoint it has cosigned (size and root) in a small JSON
state file written atomically. A smaller size is a rollback, the same size with another root a
fork, a larger size needs a consistency proof from the remembered one: each is refused with the
reason, and the state is left as it was.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from audit.checkpoint import Checkpoint, open_checkpoint
from audit.cosignature import Cosigner
from audit.merkle import verify_consistency
from audit.note import Note, NoteVerifier
from privacy.atomic_file import write_atomic
from privacy.errors import VerificationError


@dataclass(frozen=True)
class Seen:
    size: int
    root: bytes


class Witness:
    def __init__(self, cosigner: Cosigner, logs: Sequence[NoteVerifier], state: Path,
                 clock: Callable[[], float] = time.time):
        self.cosigner = cosigner
        self.logs = {log.name: log for log in logs}
        self.state = state
        self.clock = clock

    def seen(self, origin: str) -> Seen | None:
        if not self.state.exists():
            return None
        data = json.loads(self.state.read_text()).get(origin)
        return None if data is None else Seen(data["size"], base64.b64decode(data["root"]))

    def _remember(self, checkpoint: Checkpoint) -> None:
        data = json.loads(self.state.read_text()) if self.state.exists() else {}
        data[checkpoint.origin] = {"size": checkpoint.size,
                                   "root": base64.b64encode(checkpoint.root).decode()}
        write_atomic(self.state, json.dumps(data))

    def cosign(self, signed_checkpoint: str, proof: Sequence[bytes]) -> Note:
        """Verify and cosign; return the checkpoint note with this witness's cosignature added.

        ``proof`` is the consistency proof from the checkpoint this witness saw last (empty on
        first sight or when the size is unchanged).
        """
        origin = signed_checkpoint.split("\n", 1)[0]
        log = self.logs.get(origin)
        if log is None:
            raise VerificationError(f"witness does not follow a log named {origin!r}")
        checkpoint, note = open_checkpoint(signed_checkpoint, log)
        previous = self.seen(origin)
        if previous is not None:
            if checkpoint.size < previous.size:
                raise VerificationError(
                    f"rollback: checkpoint size {checkpoint.size} is smaller than the "
                    f"{previous.size} already witnessed")
            if previous.size > 0:
                verify_consistency(previous.size, checkpoint.size, proof, previous.root,
                                   checkpoint.root)
        self._remember(checkpoint)
        signature = self.cosigner.cosign(note, int(self.clock()))
        return note.with_signature(signature)
