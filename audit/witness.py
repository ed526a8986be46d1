"""A witness: cosigns a log's checkpoint only if it is consistent with everything it saw before.

It keeps, per log origin, the largest checkpoint it has cosigned (size and root) in a small JSON
state file written atomically. The caller names the size it believes the witness holds
(c2sp.org/tlog-witness, ``old``): another size is a conflict answered with the witness's own; a
smaller checkpoint is a rollback, the same size with another root a fork, a larger size needs a
consistency proof from the remembered one (RFC 9162 2.1.4.2). Each refusal says why and leaves
the state as it was.
"""

from __future__ import annotations

import base64
import fcntl
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from audit.checkpoint import Checkpoint, open_checkpoint
from audit.cosignature import Cosigner
from audit.merkle import verify_consistency
from audit.note import Note, NoteVerifier, parse_note
from kernel.atomic_file import write_atomic
from kernel.errors import VerificationError


@dataclass(frozen=True)
class Seen:
    size: int
    root: bytes


class UnknownLog(VerificationError):
    """The checkpoint's origin is not a log this witness follows."""


class WitnessConflict(VerificationError):
    """The caller's idea of what this witness holds is wrong; ``size`` is what it holds."""

    def __init__(self, size: int, detail: str):
        super().__init__(detail)
        self.size = size


class ForgedCheckpoint(VerificationError):
    """The checkpoint is not signed by the log it names."""


class InconsistentCheckpoint(VerificationError):
    """A rollback, a fork or a consistency proof that does not verify."""


class Witness:
    def __init__(self, cosigner: Cosigner, logs: Sequence[NoteVerifier], state: Path,
                 clock: Callable[[], float] = time.time):
        self.cosigner = cosigner
        self.logs = {log.name: log for log in logs}
        self.state = state
        self.clock = clock
        self._lock = threading.Lock()

    def seen(self, origin: str) -> Seen | None:
        if not self.state.exists():
            return None
        data = json.loads(self.state.read_text()).get(origin)
        return None if data is None else Seen(data["size"], base64.b64decode(data["root"]))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One decision at a time, in this process and any other sharing the state file."""
        lock_path = self.state.with_name(self.state.name + ".lock")
        with self._lock, open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _remember(self, checkpoint: Checkpoint) -> None:
        data = json.loads(self.state.read_text()) if self.state.exists() else {}
        data[checkpoint.origin] = {"size": checkpoint.size,
                                   "root": base64.b64encode(checkpoint.root).decode()}
        write_atomic(self.state, json.dumps(data))

    def cosign(self, signed_checkpoint: str, proof: Sequence[bytes],
               old_size: int | None = None) -> Note:
        """Verify and cosign; return the checkpoint note with this witness's cosignature added.

        ``proof`` is the consistency proof from the checkpoint this witness saw last (empty on
        first sight or when the size is unchanged). ``old_size`` is the size the caller believes
        this witness holds (0 for none); None skips that check (a pull-mode witness that chose
        the proof itself).
        """
        origin = signed_checkpoint.split("\n", 1)[0]
        log = self.logs.get(origin)
        if log is None:
            raise UnknownLog(f"witness does not follow a log named {origin!r}")
        parse_note(signed_checkpoint)  # malformed: the caller's VerificationError as it is
        try:
            checkpoint, note = open_checkpoint(signed_checkpoint, log)
        except VerificationError as exc:
            raise ForgedCheckpoint(str(exc)) from None
        with self._locked():
            previous = self.seen(origin)
            held = 0 if previous is None else previous.size
            if old_size is not None and old_size != held:
                raise WitnessConflict(held, f"this witness holds size {held} of {origin}, "
                                      f"not {old_size}")
            if previous is not None:
                _check_consistent(previous, checkpoint, proof)
            self._remember(checkpoint)
        signature = self.cosigner.cosign(note, int(self.clock()))
        return note.with_signature(signature)


def _check_consistent(previous: Seen, checkpoint: Checkpoint, proof: Sequence[bytes]) -> None:
    if checkpoint.size < previous.size:
        raise InconsistentCheckpoint(
            f"rollback: checkpoint size {checkpoint.size} is smaller than the "
            f"{previous.size} already witnessed")
    if previous.size == 0:
        return
    try:
        verify_consistency(previous.size, checkpoint.size, proof, previous.root, checkpoint.root)
    except VerificationError as exc:
        raise InconsistentCheckpoint(str(exc)) from None
