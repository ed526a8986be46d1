"""Key files for the log and its witnesses: one private key string per file, mode 0600.

The format is the signed-note private key string ``PRIVATE+KEY+<name>+<hex key ID>+
base64(<type> || seed)``, with type 0x01 for a log key and 0x04 for a witness (cosigner) key.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from audit.cosignature import Cosigner
from audit.note import COSIGNATURE_V1, ED25519, NoteSigner, check_name
from privacy.errors import VerificationError
from privacy.signing import KeyFileError, SigningKey, write_secret


def _skey(name: str, kind: int, key_id: bytes, seed: bytes) -> str:
    blob = base64.b64encode(bytes([kind]) + seed).decode()
    return f"PRIVATE+KEY+{name}+{key_id.hex()}+{blob}\n"


def new_log_key(name: str, path: Path) -> NoteSigner:
    signer = NoteSigner(check_name(name), SigningKey.generate())
    write_secret(path, signer.skey().encode() + b"\n")
    return signer


def new_witness_key(name: str, path: Path) -> Cosigner:
    cosigner = Cosigner(check_name(name), SigningKey.generate())
    write_secret(path, _skey(name, COSIGNATURE_V1, cosigner.public.key_id,
                             cosigner.key.seed).encode())
    return cosigner


def _read(path: Path) -> tuple[str, int, str, bytes]:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file ({exc.strerror})") from None
    parts = text.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise KeyFileError(f"{path}: not a PRIVATE+KEY+NAME+ID+KEY private key file")
    try:
        raw = base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{path}: key material is not valid base64") from None
    if len(raw) != 33:
        raise KeyFileError(f"{path}: key material has the wrong length")
    return parts[2], raw[0], parts[3], raw[1:]


def load_log_key(path: Path) -> NoteSigner:
    name, kind, hex_id, seed = _read(path)
    if kind != ED25519:
        raise KeyFileError(f"{path}: not a log (type 0x01) key")
    try:
        return NoteSigner.from_skey(f"PRIVATE+KEY+{name}+{hex_id}+"
                                    + base64.b64encode(bytes([kind]) + seed).decode())
    except VerificationError as exc:
        raise KeyFileError(f"{path}: {exc}") from None


def load_witness_key(path: Path) -> Cosigner:
    name, kind, hex_id, seed = _read(path)
    if kind != COSIGNATURE_V1:
        raise KeyFileError(f"{path}: not a witness (type 0x04) key")
    cosigner = Cosigner(name, SigningKey(seed))
    if cosigner.public.key_id.hex() != hex_id.lower():
        raise KeyFileError(f"{path}: key ID does not match the key")
    return cosigner
