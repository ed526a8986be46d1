"""Witness cosignatures on checkpoints (c2sp.org/tlog-cosignature, v1 with Ed25519).

A cosignature is a note signature of type 0x04 whose bytes are an 8-byte big-endian POSIX
timestamp followed by an Ed25519 signature over::

    cosignature/v1
    time <timestamp>
    <the checkpoint note text>
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from audit.note import COSIGNATURE_V1, Note, Signature, check_name, format_vkey, key_id, parse_vkey
from kernel.errors import VerificationError
from privacy.signing import SigningKey, VerifyKey


def signed_message(note_text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + note_text.encode()


@dataclass(frozen=True)
class CosignerKey:
    """A witness's public key: ``name+hexid+base64(0x04 || public key)``."""

    name: str
    public: VerifyKey

    def __post_init__(self) -> None:
        check_name(self.name)

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, COSIGNATURE_V1, self.public.raw)

    def vkey(self) -> str:
        return format_vkey(self.name, COSIGNATURE_V1, self.public)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignerKey:
        return cls(*parse_vkey(vkey, COSIGNATURE_V1, "witness key"))

    def verify(self, note: Note) -> int:
        """Check this witness's cosignature on ``note``; return its timestamp."""
        mine = [s for s in note.signatures if s.name == self.name and s.key_id == self.key_id]
        if not mine:
            raise VerificationError(f"checkpoint is not cosigned by witness {self.name}")
        timestamps = []
        for signature in mine:
            if len(signature.signature) != 8 + 64:
                raise VerificationError(f"cosignature by {self.name} has the wrong length")
            (timestamp,) = struct.unpack(">Q", signature.signature[:8])
            if timestamp >= 2**63:
                raise VerificationError(f"cosignature by {self.name} has an invalid timestamp")
            if not self.public.is_valid(signed_message(note.text, timestamp),
                                        signature.signature[8:]):
                raise VerificationError(f"cosignature by {self.name} does not verify")
            timestamps.append(timestamp)
        return max(timestamps)


@dataclass(frozen=True)
class Cosigner:
    name: str
    key: SigningKey

    @property
    def public(self) -> CosignerKey:
        return CosignerKey(self.name, self.key.public)

    def cosign(self, note: Note, timestamp: int) -> Signature:
        signature = self.key.sign(signed_message(note.text, timestamp))
        return Signature(self.name, self.public.key_id, struct.pack(">Q", timestamp) + signature)

    def __repr__(self) -> str:
        return f"Cosigner({self.name!r}, <secret>)"
