"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 signers and verifier keys.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> base64(key ID || signature)``. The key ID is
``SHA-256(name || 0x0A || type || public key)[:4]``; type 0x01 is a plain Ed25519 note signature,
type 0x04 a timestamped tlog cosignature (see :mod:`audit.cosignature`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property

from kernel.errors import SafecityError, VerificationError
from privacy.signing import SigningKey, VerifyKey

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
_DASH = "\u2014 "
_BAD_NAME = re.compile(r"[\s+]")


def key_id(name: str, kind: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


def format_vkey(name: str, kind: int, public: VerifyKey) -> str:
    """``name+hex key ID+base64(type || public key)``, the signed-note verifier key string."""
    blob = base64.b64encode(bytes([kind]) + public.raw).decode()
    return f"{name}+{key_id(name, kind, public.raw).hex()}+{blob}"


def parse_vkey(vkey: str, kind: int, what: str) -> tuple[str, VerifyKey]:
    """Parse and check a verifier key string of signature type ``kind``."""
    parts = vkey.strip().split("+", 2)  # the base64 key itself may contain '+'
    if len(parts) != 3:
        raise VerificationError(f"a {what} is NAME+KEYID+BASE64KEY")
    name, hex_id, blob = parts
    check_name(name)
    raw = _b64(blob, what)
    if len(raw) != 33 or raw[0] != kind:
        raise VerificationError(f"{what} is not a type 0x{kind:02x} Ed25519 key")
    try:
        public = VerifyKey(raw[1:])
    except SafecityError as exc:
        raise VerificationError(f"{what}: {exc}") from None
    if key_id(name, kind, public.raw).hex() != hex_id.lower():
        raise VerificationError(f"{what}'s ID does not match its name and key")
    return name, public


def format_skey(name: str, kind: int, key: SigningKey) -> str:
    """``PRIVATE+KEY+name+hex key ID+base64(type || seed)``, the private key string."""
    blob = base64.b64encode(bytes([kind]) + key.seed).decode()
    return f"PRIVATE+KEY+{name}+{key_id(name, kind, key.public.raw).hex()}+{blob}"


def parse_skey(skey: str, kind: int, what: str) -> tuple[str, SigningKey]:
    parts = skey.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise VerificationError(f"a {what} is PRIVATE+KEY+NAME+KEYID+BASE64KEY")
    name, hex_id, blob = parts[2:]
    check_name(name)
    raw = _b64(blob, what)
    if len(raw) != 33 or raw[0] != kind:
        raise VerificationError(f"{what} is not a type 0x{kind:02x} Ed25519 key")
    key = SigningKey(raw[1:])
    if key_id(name, kind, key.public.raw).hex() != hex_id.lower():
        raise VerificationError(f"{what}'s ID does not match its name and key")
    return name, key


def check_name(name: str) -> str:
    if not name or _BAD_NAME.search(name):
        raise VerificationError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes  # what follows the key ID

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{_DASH}{self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    text: str  # includes its final newline
    signatures: tuple[Signature, ...] = ()

    def format(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signature(self, signature: Signature) -> Note:
        kept = tuple(s for s in self.signatures
                     if (s.name, s.key_id) != (signature.name, signature.key_id))
        return Note(self.text, (*kept, signature))


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what} is not valid base64") from None


def parse_note(data: str | bytes) -> Note:
    """Parse a signed note strictly; raise :class:`VerificationError` with the reason."""
    if isinstance(data, bytes):
        if len(data) > MAX_NOTE_BYTES:
            raise VerificationError("note is too large")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise VerificationError("note is not valid UTF-8") from None
    if len(data) > MAX_NOTE_BYTES:
        raise VerificationError("note is too large")
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise VerificationError("note contains control characters")
    if not data.endswith("\n"):
        raise VerificationError("note does not end with a newline")
    split = data.rfind("\n\n")
    if split < 0:
        raise VerificationError("note has no blank line before its signatures")
    text, block = data[: split + 1], data[split + 2:]
    if not text.strip("\n") or text.startswith("\n"):
        raise VerificationError("note text is empty")
    signatures = []
    for line in block.splitlines():
        if not line.startswith(_DASH):
            raise VerificationError(f"malformed signature line {line[:40]!r}")
        name, space, blob = line[len(_DASH):].partition(" ")
        if not space:
            raise VerificationError("signature line has no signature")
        check_name(name)
        raw = _b64(blob, f"signature by {name}")
        if len(raw) < 5:
            raise VerificationError(f"signature by {name} is too short")
        signatures.append(Signature(name, raw[:4], raw[4:]))
    if not signatures:
        raise VerificationError("note has no signatures")
    if len(signatures) > MAX_SIGNATURES:
        raise VerificationError(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(signatures))


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 note verifier key: ``name+hexid+base64(0x01 || public key)`` (a vkey)."""

    name: str
    public: VerifyKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, ED25519, self.public.raw)

    def vkey(self) -> str:
        return format_vkey(self.name, ED25519, self.public)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        return cls(*parse_vkey(vkey, ED25519, "verifier key"))

    def matches(self, signature: Signature) -> bool:
        return signature.name == self.name and signature.key_id == self.key_id

    def verify(self, note: Note) -> None:
        """Raise unless this key signed ``note``."""
        mine = [s for s in note.signatures if self.matches(s)]
        if not mine:
            raise VerificationError(f"note is not signed by {self.name}")
        for signature in mine:
            if not self.public.is_valid(note.text.encode(), signature.signature):
                raise VerificationError(f"signature by {self.name} does not verify")


@dataclass(frozen=True)
class NoteSigner:
    name: str
    key: SigningKey

    def __post_init__(self) -> None:
        check_name(self.name)

    @cached_property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key.public)

    def sign(self, text: str) -> Note:
        if not text.endswith("\n"):
            raise ValueError("note text must end with a newline")
        signature = self.key.sign(text.encode())
        return Note(text, (Signature(self.name, self.verifier.key_id, signature),))

    def skey(self) -> str:
        return format_skey(self.name, ED25519, self.key)

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        return cls(*parse_skey(skey, ED25519, "signer key"))

    def __repr__(self) -> str:
        return f"NoteSigner({self.name!r}, <secret>)"
