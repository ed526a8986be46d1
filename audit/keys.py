"""Key files for the log and its witnesses: one private key string per file, mode 0600.

The format is the signed-note private key string ``PRIVATE+KEY+<name>+<hex key ID>+
base64(<type> || seed)``, with type 0x01 for a log key and 0x04 for a witness (cosigner) key.
"""

from __future__ import annotations

from pathlib import Path

from audit.cosignature import Cosigner
from audit.note import COSIGNATURE_V1, ED25519, NoteSigner, check_name, format_skey, parse_skey
from kernel.errors import VerificationError
from privacy.signing import KeyFileError, SigningKey, write_secret


def new_log_key(name: str, path: Path) -> NoteSigner:
    signer = NoteSigner(check_name(name), SigningKey.generate())
    write_secret(path, format_skey(signer.name, ED25519, signer.key).encode() + b"\n")
    return signer


def new_witness_key(name: str, path: Path) -> Cosigner:
    cosigner = Cosigner(check_name(name), SigningKey.generate())
    write_secret(path, format_skey(cosigner.name, COSIGNATURE_V1, cosigner.key).encode() + b"\n")
    return cosigner


def _load(path: Path, kind: int, what: str) -> tuple[str, SigningKey]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file ({exc.strerror})") from None
    try:
        return parse_skey(text, kind, what)
    except VerificationError as exc:
        raise KeyFileError(f"{path}: {exc}") from None


def load_log_key(path: Path) -> NoteSigner:
    return NoteSigner(*_load(path, ED25519, "log key"))


def load_witness_key(path: Path) -> Cosigner:
    return Cosigner(*_load(path, COSIGNATURE_V1, "witness key"))
