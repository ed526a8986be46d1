"""Sealing data to a recipient's public key with HPKE (RFC 9180): DHKEM(X25519, HKDF-SHA256),
HKDF-SHA256, AES-256-GCM, base mode. Used for custody shares and evidence exports.

A sealed blob is ``enc (32 bytes) || ciphertext``; ``info`` binds it to its purpose, so a share
sealed for custody cannot be replayed as an export, or the other way round.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path

from Crypto.Protocol import HPKE
from Crypto.PublicKey import ECC

from privacy.errors import IntegrityError
from privacy.signing import KeyFileError, read_seed, write_seed

ENC_BYTES = 32
_PUBLIC_PREFIX = "x25519:"


@dataclass(frozen=True)
class RecipientKey:
    """An X25519 private key (its 32-byte seed) that sealed data can be opened with."""

    seed: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> RecipientKey:
        return cls(ECC.generate(curve="Curve25519").seed)

    @property
    def _key(self) -> ECC.EccKey:
        # pycryptodome's stub types construct's keywords as str | int; seed takes bytes
        return ECC.construct(curve="Curve25519", seed=self.seed)  # type: ignore[arg-type]  # stub

    @property
    def public(self) -> bytes:
        return self._key.public_key().export_key(format="raw")

    def public_text(self) -> str:
        return _PUBLIC_PREFIX + base64.b64encode(self.public).decode()

    def save(self, path: Path) -> None:
        write_seed(path, "x25519-private", self.seed)

    @classmethod
    def load(cls, path: Path) -> RecipientKey:
        return cls(read_seed(path, "x25519-private"))

    def __repr__(self) -> str:
        return "RecipientKey(<secret>)"


def parse_public(text: str) -> bytes:
    """``x25519:<base64 32 bytes>`` -> the raw public key."""
    try:
        raw = base64.b64decode(text.strip().removeprefix(_PUBLIC_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not text.strip().startswith(_PUBLIC_PREFIX) or len(raw) != 32:
        raise KeyFileError("a recipient public key is x25519:<base64 of 32 bytes>")
    return raw


def seal(public: bytes, plaintext: bytes, info: bytes) -> bytes:
    try:
        receiver = HPKE.import_x25519_public_key(public)
    except ValueError:
        raise KeyFileError("not an X25519 public key") from None
    sender = HPKE.new(receiver_key=receiver, aead_id=HPKE.AEAD.AES256_GCM, info=info)
    return sender.enc + sender.seal(plaintext)


def open_sealed(key: RecipientKey, blob: bytes, info: bytes) -> bytes:
    if len(blob) < ENC_BYTES + 16:
        raise IntegrityError("sealed data is truncated")
    try:
        receiver = HPKE.new(receiver_key=key._key, aead_id=HPKE.AEAD.AES256_GCM,
                            enc=blob[:ENC_BYTES], info=info)
        return receiver.unseal(blob[ENC_BYTES:])
    except ValueError:
        raise IntegrityError("sealed data does not open: not for this key, or altered") from None
