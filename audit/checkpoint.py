"""Checkpoints in the C2SP tlog-checkpoint format (c2sp.org/tlog-checkpoint).

The note text is the log's origin, the tree size in decimal, the base64 root hash, then optional
extension lines, each ending in a newline; the log signs it as a signed note.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from audit.merkle import HASH_SIZE
from audit.note import Note, NoteSigner, NoteVerifier, parse_note
from kernel.errors import VerificationError

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(),
                 *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise VerificationError("checkpoint needs origin, size and root hash lines")
        origin, size, root, *extensions = lines[:-1]
        if not origin:
            raise VerificationError("checkpoint origin line is empty")
        if not _DECIMAL.fullmatch(size) or int(size) >= 2**63:
            raise VerificationError(f"checkpoint size {size[:30]!r} is not a decimal tree size")
        try:
            raw = base64.b64decode(root, validate=True)
        except (binascii.Error, ValueError):
            raise VerificationError("checkpoint root hash is not valid base64") from None
        if len(raw) != HASH_SIZE:
            raise VerificationError(f"checkpoint root hash is {len(raw)} bytes, not 32")
        if any(not line for line in extensions):
            raise VerificationError("checkpoint extension lines cannot be empty")
        return cls(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> Note:
    if checkpoint.origin != signer.name:
        raise ValueError("a log signs checkpoints under its origin as key name")
    return signer.sign(checkpoint.text())


def open_checkpoint(data: str | bytes, log: NoteVerifier) -> tuple[Checkpoint, Note]:
    """Parse a signed checkpoint, check the log's signature and that the origin is the log's."""
    note = parse_note(data)
    log.verify(note)
    checkpoint = Checkpoint.from_text(note.text)
    if checkpoint.origin != log.name:
        raise VerificationError(f"checkpoint origin {checkpoint.origin!r} is not {log.name!r}")
    return checkpoint, note
