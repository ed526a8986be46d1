"""Ed25519 signing keys behind a narrow API (RFC 8032, pycryptodome's ``eddsa``).

Keys are 32-byte seeds. Private keys are only ever written to files created with mode 0600, and
never appear in ``repr``, logs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from kernel.errors import SafecityError


class KeyFileError(SafecityError):
    """A key file is missing, unreadable or malformed."""


class BadSignatureError(SafecityError):
    """A signature does not verify."""


@dataclass(frozen=True)
class VerifyKey:
    raw: bytes
    _key: ECC.EccKey = field(init=False, repr=False, compare=False, hash=False)
    # (SHA-256 of message, signature) pairs already verified: re-checking the same signed notes
    # (a monitor polling a log, a verifier re-reading checkpoints) costs a dictionary look-up.
    _verified: set[tuple[bytes, bytes]] = field(init=False, repr=False, compare=False,
                                                hash=False, default_factory=set)

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise KeyFileError(f"an Ed25519 public key is 32 bytes, got {len(self.raw)}")
        try:
            object.__setattr__(self, "_key", eddsa.import_public_key(self.raw))
        except ValueError:
            raise KeyFileError("not a valid Ed25519 public key (not a curve point)") from None

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise :class:`BadSignatureError` unless ``signature`` is valid for ``message``."""
        if len(signature) != 64:
            raise BadSignatureError("an Ed25519 signature is 64 bytes")
        memo = (hashlib.sha256(message).digest(), bytes(signature))
        if memo in self._verified:
            return
        try:
            eddsa.new(self._key, "rfc8032").verify(message, signature)
        except ValueError:
            raise BadSignatureError("signature does not verify") from None
        if len(self._verified) < 100_000:
            self._verified.add(memo)

    def text(self) -> str:
        return "ed25519:" + base64.b64encode(self.raw).decode()

    @classmethod
    def parse(cls, text: str) -> VerifyKey:
        body = text.strip()
        try:
            raw = base64.b64decode(body.removeprefix("ed25519:"), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not body.startswith("ed25519:") or len(raw) != 32:
            raise KeyFileError("an Ed25519 public key is ed25519:<base64 of 32 bytes>")
        return cls(raw)

    def is_valid(self, message: bytes, signature: bytes) -> bool:
        try:
            self.verify(message, signature)
        except BadSignatureError:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    seed: bytes = field(repr=False)
    _key: ECC.EccKey = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise KeyFileError("an Ed25519 private key seed is 32 bytes")
        object.__setattr__(self, "_key", eddsa.import_private_key(self.seed))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ECC.generate(curve="ed25519").seed)

    @property
    def public(self) -> VerifyKey:
        return VerifyKey(self._key.public_key().export_key(format="raw"))

    def sign(self, message: bytes) -> bytes:
        return eddsa.new(self._key, "rfc8032").sign(message)

    def save(self, path: Path) -> None:
        write_seed(path, "ed25519-private", self.seed)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        return cls(read_seed(path, "ed25519-private"))

    def __repr__(self) -> str:
        return "SigningKey(<secret>)"


def write_seed(path: Path, kind: str, seed: bytes) -> None:
    """A private key file ``<kind>:<base64 of the 32-byte seed>``, mode 0600."""
    write_secret(path, f"{kind}:".encode() + base64.b64encode(seed) + b"\n")


def seed_file(path: Path, kind: str) -> bytes:
    """The 32-byte seed in ``path``, created at random (mode 0600, folder 0700) if absent."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_seed(path, kind, os.urandom(32))
    return read_seed(path, kind)


def read_seed(path: Path, kind: str) -> bytes:
    try:
        body = path.read_text().strip()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file ({exc.strerror})") from None
    try:
        seed = base64.b64decode(body.removeprefix(f"{kind}:"), validate=True)
    except (binascii.Error, ValueError):
        seed = b""
    if not body.startswith(f"{kind}:") or len(seed) != 32:
        raise KeyFileError(f"{path}: not a {kind} key file")
    return seed


def write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` (mode 0600, must not exist) holding ``data``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; refusing to overwrite a secret file "
                           "(move it away or choose another path)") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
