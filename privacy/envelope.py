"""Envelope encryption: AES-256-GCM for data under a random data key, AES key wrap (RFC 3394,
AES-KW) for keys under key-encryption keys.

Every function is deterministic in what it checks: a wrong key, a flipped bit or different
associated data raise :class:`IntegrityError`; nothing is ever returned unauthenticated.
"""

from __future__ import annotations

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes

from privacy.errors import IntegrityError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


def new_key(size: int = KEY_BYTES) -> bytes:
    return get_random_bytes(size)


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce || ciphertext || tag`` (AES-256-GCM, 96-bit random nonce: one per data key)."""
    nonce = get_random_bytes(NONCE_BYTES)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
    cipher.update(aad)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return nonce + ciphertext + tag


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise IntegrityError("ciphertext is truncated")
    nonce, body, tag = blob[:NONCE_BYTES], blob[NONCE_BYTES:-TAG_BYTES], blob[-TAG_BYTES:]
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
    cipher.update(aad)
    try:
        return cipher.decrypt_and_verify(body, tag)
    except ValueError:
        raise IntegrityError("authentication tag does not match: altered data, metadata or "
                             "the wrong key") from None


def wrap(kek: bytes, key: bytes) -> bytes:
    """AES-KW (RFC 3394) of ``key`` under ``kek`` (16 or 32 bytes)."""
    return AES.new(kek, AES.MODE_KW).seal(key)


def unwrap(kek: bytes, wrapped: bytes) -> bytes:
    try:
        return AES.new(kek, AES.MODE_KW).unseal(wrapped)
    except ValueError:
        raise IntegrityError("key unwrap failed: wrong key-encryption key or altered "
                             "wrapped key") from None
