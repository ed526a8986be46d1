"""The vault: encryption at rest, tamper detection, retention by key destruction, legal hold,
custody of the master key, warrant-scoped export, and bad input."""

from __future__ import annotations

import errno
import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.log import AuditLog
from audit.note import NoteSigner
from audit.records import PublicRecord
from kernel import atomic_file
from kernel.errors import SafecityError, VerificationError
from nodes.errors import VaultError
from nodes.media import decode_clip
from nodes.vault.export import export, verify_export
from nodes.vault.recorder import record
from nodes.vault.vault import Vault
from privacy.custody import Custodian, open_share, recover, split
from privacy.envelope import new_key, unwrap
from privacy.errors import CustodyError, IntegrityError
from privacy.sealing import RecipientKey
from privacy.signing import SigningKey
from simulation.synthetic import Scene, SceneSpec

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FPS = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def frames(seconds: float, seed: int = 1):
    spec = SceneSpec(width=160, height=120, fps=FPS, seconds=seconds, people=1, vehicles=0,
                     face_sizes=(24, 30), seed=seed)
    return (f for f, _ in Scene(spec).frames())


@pytest.fixture
def setup(tmp_path: Path):
    clock = Clock()
    signer = NoteSigner("site-7.city.example/node", SigningKey.generate())
    log = AuditLog(f"sqlite:///{tmp_path / 'node-audit.sqlite'}", signer)
    master = new_key()
    vault = Vault(tmp_path / "vault", master, "site-7", log, retention_days={"gate": 30},
                  clock=clock)
    ids = record(frames(3.0), FPS, "gate", vault, T0, segment_seconds=1.0)
    yield {"vault": vault, "ids": ids, "clock": clock, "log": log, "master": master,
           "signer": signer, "tmp": tmp_path}
    vault.close()
    log.close()


def test_segments_round_trip_and_nothing_plain_on_disk(setup) -> None:
    vault, ids = setup["vault"], setup["ids"]
    assert len(ids) == 3
    for segment_id in ids:
        assert len(list(decode_clip(vault.read(segment_id)))) == 10
    for path in (setup["tmp"] / "vault").rglob("*"):
        if path.is_file():
            assert b"matroska" not in path.read_bytes() and b"Lavf" not in path.read_bytes()
    rows = sqlite3.connect(setup["tmp"] / "vault" / "index.sqlite").execute(
        "SELECT * FROM segments").fetchall()
    assert len(rows) == 3


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["ciphertext-start", "ciphertext-middle", "tag",
                                   "wrapped-key", "row-start", "row-camera", "row-hash",
                                   "row-day-key"])
def test_any_tamper_is_detected_never_played(setup, where: str) -> None:
    vault, target = setup["vault"], setup["ids"][1]
    path = vault._path(target)
    size = path.stat().st_size
    db = vault.db
    if where == "ciphertext-start":
        _flip(path, 30)
    elif where == "ciphertext-middle":
        _flip(path, size // 2)
    elif where == "tag":
        _flip(path, size - 1)
    elif where == "wrapped-key":
        wrapped = bytearray(db.execute("SELECT wrapped_key FROM segments WHERE id = ?",
                                       (target,)).fetchone()[0])
        wrapped[3] ^= 1
        db.execute("UPDATE segments SET wrapped_key = ? WHERE id = ?", (bytes(wrapped), target))
    elif where == "row-start":
        db.execute("UPDATE segments SET start = ? WHERE id = ?",
                   ("2026-11-02T09:00:00.500000+00:00", target))
    elif where == "row-camera":
        db.execute("UPDATE segments SET camera = 'lobby' WHERE id = ?", (target,))
    elif where == "row-hash":
        db.execute("UPDATE segments SET sha256 = ? WHERE id = ?", ("0" * 64, target))
    elif where == "row-day-key":
        db.execute("UPDATE segments SET day_key = 'gate/2026-11-01' WHERE id = ?", (target,))
    with pytest.raises((IntegrityError, VaultError)):
        vault.read(target)
    report = vault.check()
    assert [d.split(":")[0] for d in report.damaged] == [target]
    assert report.checked == 3
    with pytest.raises(VaultError, match="quarantined"):
        vault.read(target)
    assert vault.check().damaged == [f"{target}: quarantined earlier"]
    for other in setup["ids"]:
        if other != target:
            vault.read(other)


def test_retention_destroys_keys_and_holds_survive(setup) -> None:
    vault, ids, clock, log = setup["vault"], setup["ids"], setup["clock"], setup["log"]
    clock.now = T0 + timedelta(days=1)
    later = record(frames(1.0, seed=2), FPS, "gate", vault, clock.now, segment_seconds=1.0)
    held = vault.hold("case-2026-17", ["gate"], T0, T0 + timedelta(seconds=1), "burglary",
                      until=T0 + timedelta(days=60))
    assert held == 1
    clock.now = T0 + timedelta(days=31)
    report = vault.purge()
    assert (report.day_keys_destroyed, report.segments_deleted, report.segments_kept_on_hold) \
        == (1, 2, 1)
    assert len(list(decode_clip(vault.read(ids[0])))) == 10  # held: readable via the case key
    for gone in ids[1:]:
        with pytest.raises(VaultError, match="unknown segment"):
            vault.read(gone)
    vault.read(later[0])  # the next day is still inside its 30 days
    # even with the master key the held segment's day key is gone: only the case key opens it
    day_rows = vault.db.execute("SELECT day FROM day_keys").fetchall()
    assert day_rows == [("2026-11-03",)]
    wrapped = vault.db.execute("SELECT wrapped_key FROM segments WHERE id = ?",
                               (ids[0],)).fetchone()[0]
    with pytest.raises(IntegrityError):
        unwrap(setup["master"], wrapped)
    # the hold ends: the next purge deletes the held segment too
    clock.now = T0 + timedelta(days=61)
    assert vault.purge().segments_deleted == 2
    assert vault.segments() == []
    actions = [PublicRecord.from_leaf(e.data).action for e in log.entries()]
    assert actions == ["legal_hold", "retention_purge", "retention_purge"]
    assert vault.check().clean


def test_custody_k_of_n(tmp_path: Path) -> None:
    keys = {name: RecipientKey.generate() for name in ("court", "dpo", "operator")}
    master = new_key()
    record_ = split("site-7", master, [Custodian(n, k.public) for n, k in keys.items()], 2)
    shares = {n: open_share(record_, n, k) for n, k in keys.items()}
    assert recover(record_, [shares["court"], shares["dpo"]]) == master
    assert recover(record_, [shares["dpo"], shares["operator"]]) == master
    with pytest.raises(CustodyError, match="2 shares are needed, 1 given"):
        recover(record_, [shares["court"]])
    bad = bytearray(shares["court"])
    bad[9] ^= 0x40
    with pytest.raises(CustodyError, match="one is wrong, corrupted"):
        recover(record_, [bytes(bad), shares["dpo"]])
    # with a spare good share, the corrupted one is outvoted
    assert recover(record_, [bytes(bad), shares["dpo"], shares["operator"]]) == master
    with pytest.raises(CustodyError, match="does not open with this key"):
        open_share(record_, "court", keys["dpo"])


def test_export_is_scoped_signed_sealed_and_verified(setup) -> None:
    vault, signer = setup["vault"], setup["signer"]
    recipient = RecipientKey.generate()
    start, end = T0 + timedelta(seconds=0.5), T0 + timedelta(seconds=1.5)
    data = export(vault, ["gate"], start, end, "w-2026-0042", recipient.public,
                  "city-pd/evidence", signer)
    manifest, files = verify_export(data, recipient, signer.verifier, ["gate"], T0,
                                    T0 + timedelta(hours=1), "w-2026-0042")
    assert [s["id"] for s in manifest["segments"]] == setup["ids"][:2]
    assert len(list(decode_clip(files["gate.mkv"]))) == 10  # cut to the 1-second window
    with pytest.raises(VerificationError, match="outside the warrant"):
        verify_export(data, recipient, signer.verifier, ["gate"], T0 + timedelta(seconds=1),
                      T0 + timedelta(hours=1))
    with pytest.raises(VerificationError, match="cameras"):
        verify_export(data, recipient, signer.verifier, ["lobby"], T0, T0 + timedelta(hours=1))
    with pytest.raises(VerificationError, match="does not open"):
        verify_export(data, RecipientKey.generate(), signer.verifier, ["gate"], T0,
                      T0 + timedelta(hours=1))
    tampered = bytearray(data)
    tampered[-100] ^= 1
    with pytest.raises(VerificationError):
        verify_export(bytes(tampered), recipient, signer.verifier, ["gate"], T0,
                      T0 + timedelta(hours=1))
    stranger = NoteSigner(signer.name, SigningKey.generate())
    with pytest.raises(VerificationError, match="not signed by"):
        verify_export(data, recipient, stranger.verifier, ["gate"], T0, T0 + timedelta(hours=1))
    exported = [PublicRecord.from_leaf(e.data) for e in setup["log"].entries()]
    assert exported[-1].action == "export" and exported[-1].warrant_id == "w-2026-0042"


def test_bad_input(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    vault, tmp = setup["vault"], setup["tmp"]
    with pytest.raises(VaultError, match="wrong master key"):
        Vault(tmp / "vault", new_key(), "site-7", setup["log"])
    with pytest.raises(VaultError, match="unknown segment"):
        vault.read("0" * 32)
    with pytest.raises(VaultError, match="no recordings in that scope"):
        export(vault, ["gate"], T0 - timedelta(days=9), T0 - timedelta(days=8), "w-1",
               RecipientKey.generate().public, "x", setup["signer"])
    with pytest.raises(VaultError, match="must end after"):
        vault.store("gate", T0, T0, b"x")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_file.os, "fsync", full)
    before = sorted(p.name for p in (tmp / "vault" / "segments").iterdir())
    with pytest.raises(SafecityError, match="No space left on device"):
        vault.store("gate", T0 + timedelta(seconds=5), T0 + timedelta(seconds=6), b"video")
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp / "vault" / "segments").iterdir()) == before
    assert len(vault.segments()) == 3 and vault.check().clean


def test_master_key_rotation_without_reencrypting(setup) -> None:
    vault, tmp = setup["vault"], setup["tmp"]
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (tmp / "vault" / "segments").iterdir()}
    new_master = new_key()
    assert vault.rotate_master(new_master) == 1
    vault.close()
    with pytest.raises(VaultError, match="wrong master key"):
        Vault(tmp / "vault", setup["master"], "site-7", setup["log"])
    again = Vault(tmp / "vault", new_master, "site-7", setup["log"])
    for segment_id in setup["ids"]:
        again.read(segment_id)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in (tmp / "vault" / "segments").iterdir()}
    assert after == before
    again.close()
    setup["vault"] = Vault(tmp / "vault", new_master, "site-7", setup["log"])
