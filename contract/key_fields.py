"""Public keys as pydantic field types: a malformed key is a validation error naming its field."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from privacy.sealing import parse_public
from privacy.signing import KeyFileError, VerifyKey


def _ed25519(value: str) -> str:
    try:
        VerifyKey.parse(value)
    except KeyFileError as exc:
        raise ValueError(str(exc)) from None
    return value


def _x25519(value: str) -> str:
    try:
        parse_public(value)
    except KeyFileError as exc:
        raise ValueError(str(exc)) from None
    return value


def _supernode(value: str) -> str:
    """A Flower SuperNode key: OpenSSH ``ecdsa-sha2-nistp384`` (what Flower authenticates)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    value = value.strip()
    if len(value) > 512 or not value.startswith("ecdsa-sha2-nistp384 "):
        raise ValueError("a SuperNode key is an OpenSSH ecdsa-sha2-nistp384 public key")
    try:
        key = load_ssh_public_key(value.encode())
    except (ValueError, TypeError):
        raise ValueError("not a readable OpenSSH public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise ValueError("a SuperNode key is ECDSA on P-384")
    return value


def _cosigner(value: str) -> str:
    """A witness's key: a C2SP cosigner vkey (c2sp.org/tlog-cosignature, type 0x04)."""
    from audit.cosignature import CosignerKey
    from kernel.errors import VerificationError

    try:
        CosignerKey.from_vkey(value)
    except VerificationError as exc:
        raise ValueError(str(exc)) from None
    return value


Ed25519Public = Annotated[str, AfterValidator(_ed25519)]  # ed25519:<base64 of 32 bytes>
X25519Public = Annotated[str, AfterValidator(_x25519)]  # x25519:<base64 of 32 bytes>
SuperNodePublic = Annotated[str, AfterValidator(_supernode)]  # ecdsa-sha2-nistp384 AAAA...
CosignerPublic = Annotated[str, AfterValidator(_cosigner)]  # name+keyid+base64(0x04||key)
