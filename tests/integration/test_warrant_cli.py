"""The warrant command line (drafting, signing, verifying) run as a process."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

from contract.reference_image import canonical_png
from contract.warrants import (
    SignedWarrant,
    commit_reference,
)
from tests.unit.test_legal_basis import face, png, with_chunk


def test_warrant_cli_draft_sign_verify(tmp_path: Path) -> None:
    cli = [sys.executable, "-c", "from nodes.cli import main; main()", "warrant"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], check=False, capture_output=True, text=True,
                              timeout=60)

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
    """The CLI commits to each image's plain PNG (what the coordinator keeps and a node
    searches), can write those PNGs for the signers, and ``warrant show`` checks plain targets
    and image files against the commitments before anyone signs offline."""
    cli = [sys.executable, "-c", "from nodes.cli import main; main()", "warrant"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], check=False, capture_output=True, text=True,
                              timeout=60)

    photo = with_chunk(png(face(1)), b"gAMA", struct.pack(">I", 20000))  # rendered darker
    (tmp_path / "suspect.png").write_bytes(photo)
    request = tmp_path / "request.json"
    body = {"warrant_id": "w-10", "kind": "face_watchlist", "purpose_code": "serious-crime",
            "sites": ["site-1"], "cameras": ["gate"],
            "window": {"start": "2026-11-13T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
            "not_before": "2026-11-20T00:00:00Z", "expires_at": "2026-11-22T00:00:00Z",
            "max_uses": 2, "targets": ["suspect-1"], "requested_by": "officer-7",
            "references": {"suspect-1": "suspect.png"}}
    request.write_text(json.dumps(body))
    out, plain = tmp_path / "w-10.json", tmp_path / "plain"
    done = run("draft", str(request), "--out", str(out), "--plain-references", str(plain))
    assert done.returncode == 0 and "1 reference images" in done.stdout, done.stderr
    drafted = SignedWarrant.model_validate_json(out.read_text()).warrant
    salt = base64.b64decode(drafted.target_salt)
    shown = (plain / "suspect-1.png").read_bytes()
    assert shown == canonical_png(photo)
    assert drafted.references == (commit_reference(
        salt, "suspect-1", hashlib.sha256(shown).hexdigest()),)

    checked = run("show", str(out), "--target", "suspect-1",
                  "--reference", f"suspect-1={plain / 'suspect-1.png'}")
    assert checked.returncode == 0, checked.stderr
    assert "A face watchlist search" in checked.stdout and "reference suspect-1:" in checked.stdout
    (tmp_path / "other.png").write_bytes(canonical_png(png(face(2))))
    for args, why in ((["--target", "suspect-2"], "not one the warrant commits to"),
                      (["--reference", f"suspect-1={tmp_path / 'suspect.png'}"], "plain PNG"),
                      (["--reference", f"suspect-1={tmp_path / 'other.png'}"], "not the image")):
        refused = run("show", str(out), *args)
        assert refused.returncode == 1 and why in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1

    (tmp_path / "text.png").write_bytes(b"suspect's photo")
    for broken in ({"references": None}, {"references": {"suspect-1": "missing.png"}},
                   {"references": {"suspect-1": "text.png"}}):
        request.write_text(json.dumps(body | broken))
        failed = run("draft", str(request), "--out", str(tmp_path / "x.json"))
        assert failed.returncode == 1 and "references" in failed.stderr
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x.json").exists()
