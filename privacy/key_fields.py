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


Ed25519Public = Annotated[str, AfterValidator(_ed25519)]  # ed25519:<base64 of 32 bytes>
X25519Public = Annotated[str, AfterValidator(_x25519)]  # x25519:<base64 of 32 bytes>
