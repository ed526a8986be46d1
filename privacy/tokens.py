"""Bearer tokens and client assertions: compact JWS signed with Ed25519 (RFC 7515, RFC 8037).

Only ``alg: EdDSA`` is accepted (never ``none``, never a symmetric algorithm chosen by the
token), the key is the caller's, and ``exp``/``nbf``/``aud`` are checked on every use.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kernel.canonical import canonical_json
from kernel.errors import SafecityError
from privacy.signing import SigningKey, VerifyKey

MAX_TOKEN_BYTES = 4096
LEEWAY_SECONDS = 30  # clock skew allowed at exp and nbf


class TokenError(SafecityError):
    """A token or assertion that is malformed, forged, expired or for someone else."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("token is not base64url") from None


def issue(claims: dict[str, Any], key: SigningKey, kid: str) -> str:
    header = {"alg": "EdDSA", "kid": kid, "typ": "JWT"}
    signing_input = f"{_b64(canonical_json(header))}.{_b64(canonical_json(claims))}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"


def unverified_header(token: str) -> dict[str, Any]:
    parts = _split(token)
    return _json(parts[0], "header")


def verify(token: str, key: VerifyKey, audience: str, now: int,
           leeway: int = LEEWAY_SECONDS) -> dict[str, Any]:
    """The token's claims, if ``key`` signed it for ``audience`` and it is valid at ``now``."""
    head, body, signature = _split(token)
    if _json(head, "header").get("alg") != "EdDSA":
        raise TokenError("token algorithm must be EdDSA")
    if not key.is_valid(f"{head}.{body}".encode(), _unb64(signature)):
        raise TokenError("token signature does not verify")
    claims = _json(body, "claims")
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
    if not isinstance(exp, int) or not isinstance(nbf, int):
        raise TokenError("token has no integer exp")
    if now > exp + leeway:
        raise TokenError("token has expired")
    if now + leeway < nbf:
        raise TokenError("token is not valid yet")
    if claims.get("aud") != audience:
        raise TokenError("token is for another audience")
    return claims


def _split(token: str) -> list[str]:
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenError("token is too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("token is not a compact JWS")
    return parts


def _json(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_unb64(part))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TokenError(f"token {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenError(f"token {what} is not an object")
    return value
