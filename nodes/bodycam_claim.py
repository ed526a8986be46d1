"""What a body-worn camera's upload claims, and the check of that claim before a byte of the
clip is kept: the device signs (Ed25519, RFC 8032) the canonical JSON (``kernel.canonical``) of
its id, the clip's SHA-256 and size, when it was recorded and sent, a fresh nonce and what the
officer states (badge, case, note). The node takes the clip only when the device is enrolled at
the site, the signature verifies under its key, the body's SHA-256 and size are the ones
signed, the sending time is within ``skew`` of the node's clock, the recording time is plausible
(not after sending, not before what retention keeps), and the nonce is new (the
caller's nonce store decides that last part). Pure: no I/O here.

The white paper's body-worn cases (Hartford's officers, Milestone Mobile) put an officer's clip
into the same evidence handling as a fixed camera's; signing at the device is what lets the
chain of custody start there rather than at the docking station."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from kernel.canonical import canonical_json
from kernel.errors import SafecityError
from privacy.signing import BadSignatureError, SigningKey, VerifyKey

CLAIM_HEADER = "X-Safecity-Clip-Claim"  # base64 of the canonical JSON claim
SIGNATURE_HEADER = "X-Safecity-Clip-Signature"  # base64 of the Ed25519 signature over it
DEVICE_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # also the clip's camera name in the vault


class OfficerStatement(BaseModel):
    """What the officer says about the clip; logged with it, never shown on the portal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    badge: str = Field(default="", max_length=32, pattern=r"^[A-Za-z0-9 _./-]*$")
    case: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9 _./-]*$")
    note: str = Field(default="", max_length=500)


class ClipClaim(BaseModel):
    """The signed part of an upload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = Field(pattern=DEVICE_ID)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=1)
    recorded_at: AwareDatetime
    sent_at: AwareDatetime
    nonce: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")
    officer: OfficerStatement = OfficerStatement()

    def signed_bytes(self) -> bytes:
        return canonical_json(json.loads(self.model_dump_json()))


class ClipRefused(SafecityError):
    """An upload the node does not take: ``code`` is stable (for the problem's ``code`` and the
    log), ``status`` its HTTP status."""

    def __init__(self, code: str, status: int, detail: str):
        super().__init__(detail)
        self.code, self.status, self.detail = code, status, detail


def claim_for(device: str, data: bytes, recorded_at: datetime, sent_at: datetime,
              officer: OfficerStatement | None = None) -> ClipClaim:
    """The claim a device makes for ``data`` (a fresh nonce each time)."""
    return ClipClaim(device=device, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                     recorded_at=recorded_at, sent_at=sent_at,
                     nonce=secrets.token_urlsafe(18), officer=officer or OfficerStatement())


def headers_for(claim: ClipClaim, key: SigningKey) -> dict[str, str]:
    """The two headers a device sends with the clip as the request's body."""
    signed = claim.signed_bytes()
    return {CLAIM_HEADER: base64.b64encode(signed).decode(),
            SIGNATURE_HEADER: base64.b64encode(key.sign(signed)).decode()}


def _b64(value: str | None, name: str) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError):
        raise ClipRefused("malformed", 400, f"{name} is not base64") from None


def checked(claim_header: str | None, signature_header: str | None,
            devices: dict[str, VerifyKey], now: datetime, skew: timedelta) -> ClipClaim:
    """The claim, once its signature and sending time hold; ``ClipRefused`` otherwise. Needs
    no byte of the body, so an upload is judged before its body is read; the body is
    checked against the claim by ``matches``, the nonce's freshness is the caller's."""
    if not claim_header or not signature_header:
        raise ClipRefused("unsigned", 401, f"an upload carries {CLAIM_HEADER} and "
                          f"{SIGNATURE_HEADER} (the device's signed claim)")
    signed = _b64(claim_header, CLAIM_HEADER)
    try:
        claim = ClipClaim.model_validate_json(signed)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "claim"
        raise ClipRefused("malformed", 400, f"claim {where}: {first['msg']}") from None
    if canonical_json(json.loads(signed)) != signed:
        raise ClipRefused("malformed", 400, "the claim is not in canonical JSON")
    key = devices.get(claim.device)
    if key is None:
        raise ClipRefused("unknown_device", 403, f"device {claim.device!r} is not enrolled at "
                          "this site (body_cameras in the node's config)")
    try:
        key.verify(signed, _b64(signature_header, SIGNATURE_HEADER))
    except BadSignatureError:
        raise ClipRefused("bad_signature", 403, f"the claim's signature does not verify "
                          f"under device {claim.device!r}'s key") from None
    if abs(now - claim.sent_at) > skew:
        raise ClipRefused("stale", 403, f"the claim was sent at {claim.sent_at.isoformat()}, "
                          f"more than {int(skew.total_seconds())} s from the node's clock")
    return claim


def plausible(claim: ClipClaim, skew: timedelta, oldest: datetime) -> None:
    """Refuse (``implausible_time``) a clip said to be recorded after it was sent (beyond the
    clock skew allowed) or before ``oldest``, the start of the first day retention still
    keeps: the recording time files the original under a vault day key, and a time in the
    far future would keep it past retention, one in the past would have it shredded at the
    next purge."""
    if claim.recorded_at > claim.sent_at + skew:
        raise ClipRefused("implausible_time", 422, f"the clip's recorded_at "
                          f"({claim.recorded_at.isoformat()}) is after it was sent "
                          f"({claim.sent_at.isoformat()})")
    if claim.recorded_at < oldest:
        raise ClipRefused("implausible_time", 422, f"the clip's recorded_at "
                          f"({claim.recorded_at.isoformat()}) is before {oldest.isoformat()}, "
                          "the oldest day this site's retention keeps")


def matches(claim: ClipClaim, sha256: str, size: int) -> None:
    """Refuse (``altered``) a body that is not the one the device signed."""
    if size != claim.size or sha256 != claim.sha256:
        raise ClipRefused("altered", 422, "the clip is not the one the device signed (its "
                          "SHA-256 or size differs)")
