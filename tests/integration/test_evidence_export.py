"""Evidence export is under the node's own warrant checks (issue 20, finding 3).

`safecity vault export` runs as a real process against a real city (coordinator, audit log,
enrolled node): only an evidence-export warrant signed by a pinned judge, registered in the log,
valid, not revoked, with a use left, for cameras and a window inside its scope, exports anything;
every refusal is one line with its reason and fix, writes no file and spends no use. A valid
export is verified as the recipient would, is an entry in the node's log, and its signed report
becomes an entry in the city's audit log (queued while the broker is away, sent later).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from audit.keys import load_log_key
from audit.log import AuditLog
from audit.records import Action
from contract.exports import ExportReport, SignedExportReport
from contract.warrants import Refusal, SignedWarrant, WarrantRefused, Window, digest, sign
from coordinator.errors import ExportReportRejected
from coordinator.export_reports import accept_export
from nodes.export_reports import ExportOutbox
from nodes.identity import load_identity
from nodes.query_ledger import QueryLedger
from nodes.vault.recorder import record
from nodes.vault.site import open_vault
from privacy.sealing import RecipientKey
from privacy.signing import SigningKey
from simulation.synthetic import Scene, SceneSpec
from tests.support.world import T0, World, embedded_world

SAFECITY = [sys.executable, "-c", "from nodes.cli import main; main()"]
RECORDED = T0 - timedelta(minutes=30)  # 3 seconds of both cameras, one-second segments
SCOPE = {"start": (RECORDED - timedelta(minutes=1)).isoformat(),
         "end": (RECORDED + timedelta(minutes=1)).isoformat()}


def safecity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SAFECITY, *args], check=False, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory):
    world = embedded_world(tmp_path_factory.mktemp("export"))
    node = world.add_node("alpha", "site-a")
    spec = SceneSpec(width=160, height=120, fps=10.0, seconds=3.0, people=1, vehicles=0,
                     face_sizes=(24, 30), seed=5)
    with open_vault(node.settings) as opened:
        for camera in ("gate", "lobby"):
            record((f for f, _ in Scene(spec).frames()), 10.0, camera, opened.vault, RECORDED,
                   segment_seconds=1.0)
    police = RecipientKey.generate()
    police.save(world.root / "police.key")
    yield world, police
    world.close()


def evidence_warrant(world: World, **changes: Any) -> dict[str, Any]:
    return world.registered(**{"kind": "evidence_export", "cameras": ["gate"],
                               "window": SCOPE, "max_uses": 1,
                               "targets": ["case-0042-footage"]} | changes)


def presented(world: World, warrant_id: str, folder: Path) -> dict[str, Any]:
    """What the officer carries to the site, from the coordinator."""
    response = world.client.get(f"/warrants/{warrant_id}/receipt", headers=world.as_("police"),
                                params={"node_id": world.nodes["alpha"].node_id})
    assert response.status_code == 200, response.text
    body = response.json()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "warrant.json").write_text(json.dumps(body["warrant"]))
    (folder / "receipt.json").write_text(json.dumps(body["receipt"]))
    (folder / "consistency.json").write_text(json.dumps(body["log_consistency"]))
    return body


def export(world: World, police: RecipientKey, folder: Path, opening: str,
           camera: str = "gate", start: str | None = None, end: str | None = None,
           config: Path | None = None) -> subprocess.CompletedProcess[str]:
    start = start or (RECORDED + timedelta(seconds=0.5)).isoformat()
    end = end or (RECORDED + timedelta(seconds=1.5)).isoformat()
    return safecity("vault", "export", "--config", str(config or world.nodes["alpha"].config),
                    "--warrant", str(folder / "warrant.json"),
                    "--receipt", str(folder / "receipt.json"), "--opening", opening,
                    *(("--consistency", str(folder / "consistency.json"))
                      if (folder / "consistency.json").exists() else ()),
                    "--camera", camera, "--start", start, "--end", end,
                    "--recipient", police.public_text(), "--recipient-name", "city-pd/evidence",
                    "--out", str(folder / "evidence.sce"))


def uses(world: World, warrant_id: str) -> int:
    ledger = QueryLedger(world.nodes["alpha"].settings.stores.query_ledger)
    try:
        return ledger.uses(warrant_id)
    finally:
        ledger.close()


def node_log(world: World) -> AuditLog:
    settings = world.nodes["alpha"].settings
    return AuditLog(settings.audit_url, load_log_key(settings.node_key_file))


def refused(world: World, done: subprocess.CompletedProcess[str], folder: Path,
            warrant_id: str, reason: str) -> str:
    """One line naming the reason and a fix, non-zero, no file, no use spent, logged."""
    assert done.returncode == 1, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"export refused: warrant refused ({reason})" in lines[0], lines
    assert "; " in lines[0].split(f"({reason})", 1)[1]  # the fix follows the reason
    assert not (folder / "evidence.sce").exists()
    assert not list(folder.glob("evidence.sce*"))  # nothing half-written either
    assert uses(world, warrant_id) == 0
    log = node_log(world)
    try:
        last = log.entry(log.size() - 1).record
    finally:
        log.close()
    assert last.action is Action.WARRANT_REFUSED and last.outcome == reason
    return lines[0]


def test_a_warrant_the_judge_never_signed_or_a_forged_one(city, tmp_path: Path) -> None:
    world, police = city
    draft = world.draft(kind="evidence_export", cameras=["gate"], window=SCOPE,
                        targets=["case-0042-footage"])
    real = evidence_warrant(world)
    body = presented(world, real["warrant_id"], tmp_path)
    (tmp_path / "warrant.json").write_text(json.dumps(draft["document"]))  # unsigned
    refused(world, export(world, police, tmp_path, body["opening"]), tmp_path,
            draft["warrant_id"], "unsigned")
    forged = json.loads(json.dumps(real["document"]))
    forged["warrant"]["cameras"] = ["gate", "lobby"]  # widened after the judge signed
    (tmp_path / "warrant.json").write_text(json.dumps(forged))
    refused(world, export(world, police, tmp_path, body["opening"], camera="lobby"), tmp_path,
            real["warrant_id"], "bad_signature")
    forged = json.loads(json.dumps(real["document"]))
    forged["warrant"]["warrant_id"] = "w-bare-id"  # a bare id, the old CLI's only input
    (tmp_path / "warrant.json").write_text(json.dumps(forged))
    refused(world, export(world, police, tmp_path, body["opening"]), tmp_path, "w-bare-id",
            "bad_signature")


def test_a_warrant_signed_by_a_key_the_node_did_not_pin(city, tmp_path: Path) -> None:
    world, police = city
    draft = world.draft(kind="evidence_export", cameras=["gate"], window=SCOPE,
                        targets=["case-0042-footage"])
    real = evidence_warrant(world)
    body = presented(world, real["warrant_id"], tmp_path)
    document = SignedWarrant.model_validate(draft["document"])
    document = document.model_copy(update={"judge": sign(document.warrant,
                                                         SigningKey.generate())})
    (tmp_path / "warrant.json").write_text(document.model_dump_json())
    line = refused(world, export(world, police, tmp_path, body["opening"]), tmp_path,
                   draft["warrant_id"], "unknown_signer")
    assert "pinned at enrolment" in line


def test_a_receipt_of_another_warrant(city, tmp_path: Path) -> None:
    world, police = city
    first, second = evidence_warrant(world), evidence_warrant(world)
    body = presented(world, first["warrant_id"], tmp_path)
    (tmp_path / "warrant.json").write_text(json.dumps(second["document"]))
    refused(world, export(world, police, tmp_path, body["opening"]), tmp_path,
            second["warrant_id"], "not_in_log")


def test_cameras_and_window_outside_the_warrant(city, tmp_path: Path) -> None:
    world, police = city
    warrant = evidence_warrant(world)
    body = presented(world, warrant["warrant_id"], tmp_path)
    refused(world, export(world, police, tmp_path, body["opening"], camera="lobby"), tmp_path,
            warrant["warrant_id"], "out_of_scope_camera")
    refused(world, export(world, police, tmp_path, body["opening"],
                          start=(RECORDED - timedelta(hours=1)).isoformat()), tmp_path,
            warrant["warrant_id"], "out_of_scope_time")


def test_a_warrant_whose_kind_does_not_allow_export(city, tmp_path: Path) -> None:
    world, police = city
    watchlist = world.registered(cameras=["gate"], window=SCOPE)  # a plate watchlist
    body = presented(world, watchlist["warrant_id"], tmp_path)
    line = refused(world, export(world, police, tmp_path, body["opening"]), tmp_path,
                   watchlist["warrant_id"], "wrong_kind")
    assert "evidence_export" in line


def test_an_expired_or_revoked_warrant(city, tmp_path: Path) -> None:
    world, police = city
    expired = evidence_warrant(world, not_before=(T0 - timedelta(days=2)).isoformat(),
                               expires_at=(T0 - timedelta(days=1)).isoformat())
    body = presented(world, expired["warrant_id"], tmp_path)
    refused(world, export(world, police, tmp_path, body["opening"]), tmp_path,
            expired["warrant_id"], "expired")
    revoked = evidence_warrant(world)
    body = presented(world, revoked["warrant_id"], tmp_path)
    ledger = QueryLedger(world.nodes["alpha"].settings.stores.query_ledger)
    ledger.revoke(revoked["warrant_id"], world.clock(), "case-closed", "judge")  # as delivered
    ledger.close()
    refused(world, export(world, police, tmp_path, body["opening"]), tmp_path,
            revoked["warrant_id"], "revoked")


def city_export_entry(world: World, warrant_id: str) -> Any:
    for _ in range(300):
        for entry in world.svc.audit.entries(0, 10_000):
            if entry.record.action is Action.EXPORT and entry.record.warrant_id == warrant_id:
                return entry
        time.sleep(0.2)
    return None


def test_a_valid_export_is_verified_logged_and_reported_once_uses_spent(city, tmp_path: Path
                                                                       ) -> None:
    world, police = city
    node = world.nodes["alpha"]
    warrant = evidence_warrant(world)
    body = presented(world, warrant["warrant_id"], tmp_path)
    # The broker is away: the export is decided by the node alone, its report waits.
    away = tmp_path / "away.toml"
    away.write_text(node.config.read_text().replace(world.broker, "redis://127.0.0.1:1/0"))
    done = export(world, police, tmp_path, body["opening"], config=away)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["uses_left"] == 0 and shown["report"].startswith("queued (1 waiting")
    node_key = load_log_key(node.settings.node_key_file).verifier.vkey()
    checked = safecity("vault", "verify-export", str(tmp_path / "evidence.sce"),
                       "--key", str(world.root / "police.key"), "--node-key", node_key,
                       "--camera", "gate", "--start", SCOPE["start"], "--end", SCOPE["end"],
                       "--warrant-id", warrant["warrant_id"], "--extract", str(tmp_path / "x"))
    assert checked.returncode == 0, checked.stderr
    assert (tmp_path / "x" / "gate.mkv").stat().st_size > 0
    narrower = safecity("vault", "verify-export", str(tmp_path / "evidence.sce"),
                        "--key", str(world.root / "police.key"), "--node-key", node_key,
                        "--camera", "lobby", "--start", SCOPE["start"], "--end", SCOPE["end"])
    assert narrower.returncode == 1 and "outside the warrant" in narrower.stderr
    log = node_log(world)
    try:
        exported = [e.record for e in log.entries(0, 10_000)
                    if e.record.action == "export" and e.record.warrant_id == warrant["warrant_id"]]
    finally:
        log.close()
    assert len(exported) == 1 and exported[0].recipients == ("city-pd/evidence",)

    (tmp_path / "evidence.sce").rename(tmp_path / "first.sce")
    again = export(world, police, tmp_path, body["opening"])
    assert again.returncode == 1 and "(used_up)" in again.stderr
    assert not (tmp_path / "evidence.sce").exists() and uses(world, warrant["warrant_id"]) == 1

    # Sent later, once, to the city's log; a resend is not logged twice.
    world.start_coordinator_worker()
    sent = safecity("vault", "send-reports", "--config", str(node.config))
    assert sent.returncode == 0 and json.loads(sent.stdout) == {"sent": 1}, sent.stderr
    entry = city_export_entry(world, warrant["warrant_id"])
    assert entry is not None, "the export never reached the city's audit log"
    assert entry.record.outcome == "evidence_exported"
    assert entry.record.actor.pseudonym == node.node_id
    assert entry.record.scope.cameras == ("gate",) and entry.record.counts_returned == 2
    # the recipient is the node's text: a sealed detail, not a public field (red team 3)
    assert entry.record.recipients == () and "recipient" in entry.record.commitments
    details = world.svc.audit.details(entry.index)
    assert json.loads(details["export_id"]) == shown["export_id"]
    assert json.loads(details["recipient"]) == "city-pd/evidence"
    world.stop_coordinator_worker()
    outbox = ExportOutbox(node.settings.stores.export_reports)
    try:
        waiting = outbox._db.execute("SELECT message FROM reports").fetchone()[0]
    finally:
        outbox.close()
    assert accept_export(world.svc, json.loads(waiting)) == (entry.index, True)


def test_a_report_not_from_the_enrolled_node_is_refused(city, tmp_path: Path) -> None:
    world, _ = city
    node = world.nodes["alpha"]
    warrant = evidence_warrant(world)
    report = ExportReport(
        export_id=str(uuid.uuid4()), node_id=node.node_id, site="site-a",
        warrant_id=warrant["warrant_id"],
        warrant_sha256=digest(SignedWarrant.model_validate(warrant["document"])),
        cameras=("gate",), window=Window.model_validate(SCOPE), segments=1,
        recipient="city-pd", export_sha256="0" * 64, exported_at=world.clock())
    forged = SignedExportReport(report=report, signature=report.sign(SigningKey.generate()))
    with pytest.raises(ExportReportRejected, match="not signed by the enrolled key"):
        accept_export(world.svc, forged.model_dump(mode="json"))
    key = load_identity(node.settings.keys_dir).signing
    wider = report.model_copy(update={"cameras": ("gate", "lobby")})
    with pytest.raises(ExportReportRejected, match="outside its warrant"):
        accept_export(world.svc, SignedExportReport(
            report=wider, signature=wider.sign(key)).model_dump(mode="json"))


def test_a_report_left_waiting_goes_when_the_node_worker_starts(city, tmp_path: Path) -> None:
    world, police = city
    node = world.nodes["alpha"]
    warrant = evidence_warrant(world)
    body = presented(world, warrant["warrant_id"], tmp_path)
    away = tmp_path / "away.toml"
    away.write_text(node.config.read_text().replace(world.broker, "redis://127.0.0.1:1/0"))
    done = export(world, police, tmp_path, body["opening"], config=away)
    assert done.returncode == 0 and "queued" in json.loads(done.stdout)["report"], done.stderr
    world.start_coordinator_worker()
    world.start_worker("alpha")
    try:
        entry = city_export_entry(world, warrant["warrant_id"])
    finally:
        world.stop_worker("alpha")
        world.stop_coordinator_worker()
    assert entry is not None, world.worker_log("alpha")
    assert entry.record.outcome == "evidence_exported"


def test_the_same_export_order_again_is_refused_before_anything_is_decrypted(
        city, tmp_path: Path) -> None:
    """Found by the red team: an order presented a second time (same export id) under a warrant
    whose one use it had spent passed every check and exported again, to any recipient key,
    stopped only by the outbox's unique key (and not at all once the sent report's row was
    gone). Now it is refused `replayed`, logged, and nothing is exported: with the report still
    in the outbox, and again after an insider emptied it."""
    import sqlite3

    from nodes.vault.cli import _order
    from nodes.vault.warranted import export_under_warrant
    from privacy.sealing import parse_public

    world, _ = city
    node = world.nodes["alpha"]
    warrant = evidence_warrant(world)
    body = presented(world, warrant["warrant_id"], tmp_path / "officer")
    order = _order(str(uuid.uuid4()), body["warrant"], body["receipt"], body["opening"],
                   ("gate",), RECORDED, RECORDED + timedelta(seconds=1.5), "city-pd/evidence",
                   body["log_consistency"])
    first = export_under_warrant(node.settings, order,
                                 parse_public(RecipientKey.generate().public_text()), world.clock())
    assert first.data and first.uses_left == 0
    for outbox_emptied in (False, True):
        if outbox_emptied:  # a sent report cleaned up, or an insider with the node's files
            with sqlite3.connect(node.settings.stores.export_reports) as db:
                db.execute("DELETE FROM reports")
        log = node_log(world)
        try:
            before = log.size()
        finally:
            log.close()
        with pytest.raises(WarrantRefused) as refusal:
            export_under_warrant(node.settings, order,
                                 parse_public(RecipientKey.generate().public_text()),
                                 world.clock())
        assert refusal.value.reason is Refusal.REPLAYED
        assert uses(world, warrant["warrant_id"]) == 1
        log = node_log(world)
        try:
            added = [log.entry(i).record for i in range(before, log.size())]
        finally:
            log.close()
        assert [(r.action, r.outcome) for r in added] == [(Action.WARRANT_REFUSED, "replayed")]
