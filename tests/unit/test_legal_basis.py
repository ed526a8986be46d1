"""Warrant checks a node makes itself: pinned signatures, validity, scope (pure logic)."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.reference_image import canonical_png, check_plain_png
from contract.warrants import (
    Kind,
    Refusal,
    SignedWarrant,
    Warrant,
    WarrantRefused,
    Window,
    check_scope,
    commit_reference,
    commit_target,
    new_salt,
    sign,
    verify,
)
from privacy.errors import MediaError
from privacy.signing import SigningKey
from simulation.synthetic import face_crops

JUDGE, DPO, STRANGER = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SALT = new_salt()


def warrant(kind: Kind = Kind.PLATE_WATCHLIST, **changes) -> Warrant:
    raw = base64.b64decode(SALT)
    body = dict(warrant_id="w-2026-0042", kind=kind, purpose_code="serious-crime",
                sites=("site-1",), cameras=("gate", "lobby"),
                window=Window(start=T0 - timedelta(days=7), end=T0),
                not_before=T0 - timedelta(hours=1), expires_at=T0 + timedelta(days=2),
                max_uses=3, target_salt=SALT,
                targets=tuple(commit_target(raw, t) for t in ("AB12CDE", "XY99ZZZ")),
                requested_by="officer-7")
    return Warrant(**(body | changes))


def signed(w: Warrant, judge=JUDGE, dpo=None) -> SignedWarrant:
    return SignedWarrant(warrant=w, judge=sign(w, judge) if judge else None,
                         dpo=sign(w, dpo) if dpo else None)


def refusal(call) -> Refusal:  # type: ignore[no-untyped-def]
    with pytest.raises(WarrantRefused) as error:
        call()
    return error.value.reason


def test_a_valid_warrant_passes() -> None:
    w = verify(signed(warrant()), [JUDGE.public], [DPO.public], T0)
    check_scope(w, Kind.PLATE_WATCHLIST, "site-1", ["gate"],
                Window(start=T0 - timedelta(days=1), end=T0), ["AB12CDE"])


@pytest.mark.parametrize(("make", "now", "expected"), [
    (lambda: signed(warrant(), judge=None), T0, Refusal.UNSIGNED),
    (lambda: signed(warrant(), judge=STRANGER), T0, Refusal.UNKNOWN_SIGNER),
    (lambda: SignedWarrant(warrant=warrant(max_uses=99), judge=sign(warrant(), JUDGE)), T0,
     Refusal.BAD_SIGNATURE),
    (lambda: signed(warrant()), T0 - timedelta(hours=2), Refusal.NOT_YET_VALID),
    (lambda: signed(warrant()), T0 + timedelta(days=3), Refusal.EXPIRED),
    (lambda: signed(warrant(Kind.FACE_WATCHLIST)), T0, Refusal.MISSING_COUNTERSIGNATURE),
    (lambda: signed(warrant(Kind.FACE_WATCHLIST), dpo=STRANGER), T0, Refusal.UNKNOWN_SIGNER),
])
def test_signature_and_validity_refusals(make, now, expected) -> None:  # type: ignore[no-untyped-def]
    assert refusal(lambda: verify(make(), [JUDGE.public], [DPO.public], now)) is expected


def test_face_warrant_with_dpo_countersignature_passes_and_skew_is_tolerated() -> None:
    verify(signed(warrant(Kind.FACE_WATCHLIST), dpo=DPO), [JUDGE.public], [DPO.public], T0)
    w = warrant()
    verify(signed(w), [JUDGE.public], [], w.not_before - timedelta(seconds=90))


@pytest.mark.parametrize(("query", "expected"), [
    (dict(kind=Kind.FACE_WATCHLIST), Refusal.WRONG_KIND),
    (dict(site="site-2"), Refusal.OUT_OF_SCOPE_SITE),
    (dict(cameras=["gate", "car-park"]), Refusal.OUT_OF_SCOPE_CAMERA),
    (dict(cameras=[]), Refusal.OUT_OF_SCOPE_CAMERA),
    (dict(window=Window(start=T0 - timedelta(days=8), end=T0)), Refusal.OUT_OF_SCOPE_TIME),
    (dict(targets=["AB12CDF"]), Refusal.OUT_OF_SCOPE_TARGET),
    (dict(targets=["AB12CDE", "XY99ZZZ", "AB12CDE"]), Refusal.TOO_MANY_TARGETS),
])
def test_scope_refusals(query, expected) -> None:  # type: ignore[no-untyped-def]
    base = dict(kind=Kind.PLATE_WATCHLIST, site="site-1", cameras=["gate"],
                window=Window(start=T0 - timedelta(days=1), end=T0), targets=["XY99ZZZ"])
    assert refusal(lambda: check_scope(warrant(), **(base | query))) is expected


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=12))
def test_no_target_outside_the_warrant_passes(target: str) -> None:
    query = Window(start=T0 - timedelta(days=1), end=T0)
    if target in ("AB12CDE", "XY99ZZZ"):
        check_scope(warrant(), Kind.PLATE_WATCHLIST, "site-1", ["gate"], query, [target])
    else:
        assert refusal(lambda: check_scope(warrant(), Kind.PLATE_WATCHLIST, "site-1", ["gate"],
                                           query, [target])) is Refusal.OUT_OF_SCOPE_TARGET


PHOTO, OTHER = hashlib.sha256(b"suspect's photo").hexdigest(), hashlib.sha256(b"x").hexdigest()


def face_warrant(**changes) -> Warrant:  # type: ignore[no-untyped-def]
    raw = base64.b64decode(SALT)
    return warrant(Kind.FACE_WATCHLIST, targets=(commit_target(raw, "suspect-1"),),
                   references=(commit_reference(raw, "suspect-1", PHOTO),)) \
        .model_copy(update=changes)


def face_query(w: Warrant, references: dict[str, str] | None) -> None:
    check_scope(w, Kind.FACE_WATCHLIST, "site-1", ["gate"],
                Window(start=T0 - timedelta(days=1), end=T0), ["suspect-1"], references)


def test_a_face_warrant_binds_each_reference_image_not_only_its_id() -> None:
    face_query(face_warrant(), {"suspect-1": PHOTO})
    for references in ({"suspect-1": OTHER}, {}, None):  # another person's photo, or none
        assert refusal(lambda r=references: face_query(face_warrant(), r)) \
            is Refusal.TARGET_NOT_IN_WARRANT
    # a face warrant signed before images were committed can search with no image at all
    assert refusal(lambda: face_query(face_warrant(references=None), {"suspect-1": PHOTO})) \
        is Refusal.TARGET_NOT_IN_WARRANT
    # the digests are signed: swapping one in breaks the judge's signature
    w = face_warrant()
    forged = w.model_copy(update={"references": (commit_reference(
        base64.b64decode(SALT), "suspect-1", OTHER),)})
    assert refusal(lambda: verify(SignedWarrant(warrant=forged, judge=sign(w, JUDGE),
                                                dpo=sign(w, DPO)), [JUDGE.public],
                                  [DPO.public], T0)) is Refusal.BAD_SIGNATURE
    with pytest.raises(ValueError):
        warrant(references=(commit_reference(base64.b64decode(SALT), "AB12CDE", PHOTO),) * 2)
    with pytest.raises(ValueError):
        warrant(Kind.FACE_WATCHLIST, references=("ab" * 32,))  # one image for two targets


def test_a_warrant_without_images_keeps_the_payload_it_was_signed_over() -> None:
    w = warrant()
    assert b"references" not in w.payload()
    assert b'"references":["' in face_warrant().payload()


def test_malformed_warrants_are_rejected_when_built() -> None:
    for changes in (dict(expires_at=T0 - timedelta(days=1)), dict(targets=("abc",)),
                    dict(target_salt=base64.b64encode(b"short").decode()), dict(cameras=())):
        with pytest.raises(ValueError):
            warrant(**changes)


def face(number: int) -> np.ndarray:
    return cv2.cvtColor(cv2.resize(face_crops()[number], (60, 80)), cv2.COLOR_GRAY2BGR)


def png(image: np.ndarray, *flags: int) -> bytes:
    return cv2.imencode(".png", image, list(flags))[1].tobytes()


def chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def with_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """``data`` with an extra chunk right after IHDR."""
    return data[:33] + chunk(kind, body) + data[33:]


def exif_rotated(image: np.ndarray) -> bytes:
    """A JPEG whose EXIF orientation (6: rotate 90 degrees clockwise) viewers apply."""
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    ifd = (b"MM\0*" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
           + struct.pack(">I", 0))
    app1 = b"Exif\0\0" + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def test_a_reference_is_kept_as_the_plain_png_of_what_opencv_decodes() -> None:
    """Red team B1 and its cousins: whatever a file's animation, gamma, orientation, depth or
    trailing bytes would make one viewer show, the plain PNG holds the pixels OpenCV (the
    search) decodes, in a form every PNG decoder reads alike; canonicalising it again changes
    nothing, and a node's check accepts nothing else."""
    decoded = lambda data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # noqa
    a, b = face(1), face(2)
    rows = zlib.compress(b"".join(b"\0" + r.tobytes()
                                  for r in cv2.cvtColor(a, cv2.COLOR_BGR2RGB)))
    animated = (png(b)[:-12] + chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 60, 80, 0, 0, 1, 1, 0,
                                                          0))
                + chunk(b"fdAT", struct.pack(">I", 1) + rows) + chunk(b"IEND", b""))
    animated = with_chunk(animated, b"acTL", struct.pack(">II", 1, 0))
    deep = png(b.astype(np.uint16) * 257)
    for data in (animated, with_chunk(png(a), b"gAMA", struct.pack(">I", 20000)),
                 with_chunk(png(a), b"iCCP", b"x\0\0" + zlib.compress(b"profile")),
                 png(a) + b"trailing", deep, exif_rotated(a),
                 png(a, cv2.IMWRITE_PNG_COMPRESSION, 0)):
        plain = canonical_png(data)
        assert (decoded(plain) == decoded(data)).all()
        assert canonical_png(plain) == plain and check_plain_png(plain) == (
            decoded(data).shape[1], decoded(data).shape[0])
    assert (decoded(canonical_png(animated)) == b).all()
    assert decoded(canonical_png(exif_rotated(a))).shape[:2] == (60, 80)  # turned, as shown
    for data, why in ((animated, "fcTL"), (with_chunk(png(a), b"gAMA", b"\0\0N "), "gAMA"),
                      (png(a) + b"trailing", "follow"), (deep, "8-bit RGB"),
                      (exif_rotated(a), "not a PNG"), (png(a)[:-3], "truncated")):
        with pytest.raises(MediaError, match=why):
            check_plain_png(data)
    header = canonical_png(png(a))[:33]  # signature and the plain IHDR (60x80 RGB)
    rows = bytes(80 * (1 + 3 * 60))
    for data, why in ((zlib.compress(rows[:-60]), "exactly the rows"),  # a viewer fills it in
                      (zlib.compress(rows) + b"more", "exactly the rows"),
                      (zlib.compress(b"\x09" + rows[1:]), "filter type")):
        with pytest.raises(MediaError, match=why):
            check_plain_png(header + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    stored = header + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b"")
    assert check_plain_png(stored) and canonical_png(stored) == stored  # kept, whatever zlib
    huge = png(a)[:16] + struct.pack(">II", 50_000, 50_000) + png(a)[24:]
    big_jpeg = cv2.imencode(".jpg", a)[1].tobytes().replace(
        b"\xff\xc0\x00\x11\x08\x00\x50\x00\x3c", b"\xff\xc0\x00\x11\x08\xc3\x50\xc3\x50")
    for data in (huge, big_jpeg, png(cv2.resize(a, (10, 10)))):
        with pytest.raises(MediaError, match="pixels a side"):
            canonical_png(data)  # refused from the header, before decoding
    with pytest.raises(MediaError, match="JPEG or PNG"):
        canonical_png(b"GIF89a" + bytes(40))
