"""Plate normalization and keyed hashing; Ed25519 bearer tokens (pure logic)."""

from __future__ import annotations

import base64
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.plates import PlateError, keyed_hash, normalize
from privacy.signing import SigningKey
from privacy.tokens import TokenError, issue, verify

KEY = os.urandom(32)


@pytest.mark.parametrize("text, plate", [("ab 12-cde", "AB12CDE"), (" XY99 ZZZ ", "XY99ZZZ"),
                                         ("b-ac.123", "BAC123"), ("m\u00b7ab 1234", "MAB1234")])
def test_plates_are_normalized(text: str, plate: str) -> None:
    assert normalize(text) == plate


@pytest.mark.parametrize("text", ["", "A", "AB12CDE!", "ÄB12", "DROP TABLE;", "A" * 11,
                                  "AB\x0012"])
def test_malformed_plates_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(PlateError, match="is not a plate"):
        normalize(text)


def test_keyed_hash_folds_what_ocr_confuses_and_depends_on_the_key() -> None:
    assert keyed_hash(KEY, "AB12 CDE") == keyed_hash(KEY, "ab12cde")
    assert keyed_hash(KEY, "O0I1") == keyed_hash(KEY, "00I1") == keyed_hash(KEY, "OO11")
    assert keyed_hash(KEY, "AB12CDE") != keyed_hash(os.urandom(32), "AB12CDE")
    assert keyed_hash(KEY, "AB12CDE") != keyed_hash(KEY, "AB12CDF")


@given(st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789 -", min_size=0, max_size=14))
def test_normalize_is_idempotent_or_refuses(text: str) -> None:
    try:
        plate = normalize(text)
    except PlateError:
        return
    assert normalize(plate) == plate and 2 <= len(plate) <= 10


SIGNER = SigningKey.generate()
CLAIMS = {"sub": "officer-7", "aud": "svc", "iat": 1000, "exp": 2000}


def test_a_token_verifies_for_its_audience_until_it_expires() -> None:
    token = issue(CLAIMS, SIGNER, "k")
    assert verify(token, SIGNER.public, "svc", 1500)["sub"] == "officer-7"
    with pytest.raises(TokenError, match="expired"):
        verify(token, SIGNER.public, "svc", 2100)
    with pytest.raises(TokenError, match="not valid yet"):
        verify(token, SIGNER.public, "svc", 900)
    with pytest.raises(TokenError, match="audience"):
        verify(token, SIGNER.public, "other", 1500)
    with pytest.raises(TokenError, match="signature"):
        verify(token, SigningKey.generate().public, "svc", 1500)


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_forged_tokens_are_refused() -> None:
    head, body, signature = issue(CLAIMS, SIGNER, "k").split(".")
    raised = _b64(CLAIMS | {"sub": "judge-1"})
    none = _b64({"alg": "none"})
    for forged, reason in ((f"{head}.{raised}.{signature}", "signature"),
                           (f"{none}.{body}.", "EdDSA"),
                           (f"{head}.{body}", "compact"),
                           ("x" * 5000, "too long"),
                           (f"{head}.!!!.{signature}", "signature")):
        with pytest.raises(TokenError, match=reason):
            verify(forged, SIGNER.public, "svc", 1500)
