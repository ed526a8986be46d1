"""Warrant checks a node makes itself: pinned signatures, validity, scope (pure logic)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.legal_basis import (
    Kind, Refusal, SignedWarrant, Warrant, WarrantRefused, Window, check_scope, commit_reference,
    commit_target, new_salt, sign, verify,
)
from privacy.signing import SigningKey

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


def test_warrant_cli_draft_sign_verify(tmp_path: Path) -> None:
    cli = [sys.executable, "-c", "from nodes.cli import main; main()", "warrant"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=60)

    judge_pub = run("keygen", "--out", str(tmp_path / "judge.key")).stdout.strip()
    request = tmp_path / "request.json"
    request.write_text(json.dumps({
        "warrant_id": "w-9", "kind": "plate_watchlist", "purpose_code": "serious-crime",
        "sites": ["site-1"], "cameras": ["gate"],
        "window": {"start": "2026-11-13T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
        "not_before": "2026-11-20T00:00:00Z", "expires_at": "2026-11-22T00:00:00Z",
        "max_uses": 2, "targets": ["AB12CDE"], "requested_by": "officer-7"}))
    drafted = tmp_path / "w-9.json"
    assert run("draft", str(request), "--out", str(drafted)).returncode == 0
    assert "AB12CDE" not in drafted.read_text()
    done = run("verify", str(drafted), "--judge-key", judge_pub, "--at", "2026-11-21T00:00:00Z")
    assert done.returncode == 1 and "(unsigned)" in done.stderr
    assert run("sign", str(drafted), "--key", str(tmp_path / "judge.key"),
               "--as", "judge").returncode == 0
    done = run("verify", str(drafted), "--judge-key", judge_pub, "--at", "2026-11-21T00:00:00Z")
    assert done.returncode == 0 and "OK: w-9" in done.stdout
    done = run("verify", str(drafted), "--judge-key", judge_pub, "--at", "2026-11-23T00:00:00Z")
    assert done.returncode == 1 and "(expired)" in done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"warrant": {"warrant_id": "x"}}))
    done = run("verify", str(bad), "--judge-key", judge_pub)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "bad.json" in done.stderr


def test_warrant_cli_drafts_a_face_warrant_over_the_image_files(tmp_path: Path) -> None:
    cli = [sys.executable, "-c", "from nodes.cli import main; main()", "warrant", "draft"]
    (tmp_path / "suspect.png").write_bytes(b"suspect's photo")
    request = tmp_path / "request.json"
    body = {"warrant_id": "w-10", "kind": "face_watchlist", "purpose_code": "serious-crime",
            "sites": ["site-1"], "cameras": ["gate"],
            "window": {"start": "2026-11-13T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
            "not_before": "2026-11-20T00:00:00Z", "expires_at": "2026-11-22T00:00:00Z",
            "max_uses": 2, "targets": ["suspect-1"], "requested_by": "officer-7",
            "references": {"suspect-1": "suspect.png"}}
    request.write_text(json.dumps(body))
    out = tmp_path / "w-10.json"
    done = subprocess.run([*cli, str(request), "--out", str(out)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "1 reference images" in done.stdout, done.stderr
    drafted = SignedWarrant.model_validate_json(out.read_text()).warrant
    salt = base64.b64decode(drafted.target_salt)
    assert drafted.references == (commit_reference(salt, "suspect-1", PHOTO),)
    for broken in ({"references": None}, {"references": {"suspect-1": "missing.png"}}):
        request.write_text(json.dumps(body | broken))
        failed = subprocess.run([*cli, str(request), "--out", str(tmp_path / "x.json")],
                                capture_output=True, text=True, timeout=60)
        assert failed.returncode == 1 and "references" in failed.stderr
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x.json").exists()
