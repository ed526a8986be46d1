"""The transparency report: computed from the public records of the verified log only; what a
training run, the budgets spent per site, searches and warrants come to; and `safecity audit
report`, which refuses to compute anything from a log that does not verify."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.keys import new_log_key
from audit.log import AuditLog, read_bundle
from audit.records import (
    Action,
    Actor,
    Event,
    LegalBasis,
    PrivacyLoss,
    PublicRecord,
    Scope,
    TrainingRun,
    commit,
)
from audit.storage import engines
from audit.transparency import transparency_report

CITY = Actor(pseudonym="coordinator", role="system", agency="city")


def training(outcome: str, sites: tuple[str, ...], loss: float | None = None,
             rounds: int = 5, time: str = "2026-11-03T10:00:00Z") -> Event:
    return Event(actor=CITY, action=Action.TRAINING_RUN, legal_basis=LegalBasis.STATUTE,
                 purpose_code="model_training", outcome=outcome, scope=Scope(sites=sites),
                 privacy_loss=PrivacyLoss.of(loss, 1e-5) if loss is not None else None,
                 training=TrainingRun(run_id="trajectory-1", task="trajectory", rounds=rounds),
                 time=time)


def events() -> list[Event]:
    police = Actor(pseudonym="p1", role="police_analyst", agency="city-pd")
    return [
        training("started", ("site-a", "site-b", "site-c")),
        training("trained", ("site-a",), 2.98),
        training("dropped", ("site-b",), 3.0, rounds=4),
        training("declined", ("site-c",)),
        training("completed", ("site-a", "site-b"), time="2026-11-03T10:05:00Z"),
        Event(actor=CITY, action=Action.AGGREGATE_RELEASED, legal_basis=LegalBasis.STATUTE,
              purpose_code="planning", outcome="answered", scope=Scope(sites=("site-a",)),
              privacy_loss=PrivacyLoss.of(0.5), time="2026-12-01T09:00:00Z"),
        Event(actor=police, action=Action.QUERY_DISPATCHED, legal_basis=LegalBasis.WARRANT,
              warrant_id="w-1", purpose_code="stolen-vehicle", outcome="dispatched",
              time="2026-12-01T09:10:00Z"),
        Event(actor=police, action=Action.WARRANT_REGISTERED, legal_basis=LegalBasis.WARRANT,
              warrant_id="w-1", outcome="registered", time="2026-11-30T09:10:00Z"),
    ]


def test_a_training_and_the_budget_per_site_are_counted_from_public_records() -> None:
    records = [commit(e)[0] for e in events()]
    report = transparency_report(records, b"\x01" * 32)
    assert report["checkpoint"] == {"size": 8, "root": "01" * 32}
    (run,) = report["trainings"]
    assert run["run_id"] == "trajectory-1" and run["task"] == "trajectory"
    assert run["status"] == "completed" and run["finished"] == "2026-11-03T10:05:00.000000Z"
    assert run["sites"] == {
        "site-a": {"outcome": "trained", "epsilon": 2.98, "delta": 1e-5},
        "site-b": {"outcome": "dropped", "epsilon": 3.0, "delta": 1e-5},
        "site-c": {"outcome": "declined", "epsilon": 0.0, "delta": 0.0}}
    assert report["privacy_budget_spent"] == {
        "site-a": {"training": 2.98, "aggregates": 0.5, "total": pytest.approx(3.48)},
        "site-b": {"training": 3.0, "total": 3.0}}
    assert report["searches_by_purpose"] == {"2026-12": {"stolen-vehicle": 1}}
    assert report["warrants_by_month"] == {"2026-11": {"warrant_registered": 1}}
    assert report["actions_by_month"]["2026-11"]["training_run"] == 5


def test_privacy_loss_is_a_public_decimal_and_old_records_read_unchanged() -> None:
    record = commit(training("trained", ("site-a",), 2.983812345))[0]
    leaf = json.loads(record.leaf_data())
    assert leaf["privacy_loss"] == {"epsilon": "2.98381", "delta": "0.00001"}
    assert leaf["training"] == {"run_id": "trajectory-1", "task": "trajectory", "rounds": 5}
    plain = commit(events()[-1])[0]
    assert b"privacy_loss" not in plain.leaf_data()  # leaves without it stay as they were
    assert PublicRecord.from_leaf(plain.leaf_data()) == plain
    with pytest.raises(ValueError):
        PrivacyLoss(epsilon="1e5")
    with pytest.raises(ValueError):
        PrivacyLoss.of(float("nan"))


def safecity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from nodes.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_report_command_verifies_the_log_first(tmp_path: Path) -> None:
    key = new_log_key("city.example/audit", tmp_path / "log.key")
    db = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditLog(db, key) as log:
        log.append_many(events())
    bundle = read_bundle(engines(db)[1], "city.example/audit").to_json()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    done = safecity("audit", "report", "--bundle", str(path), "--log-key", key.verifier.vkey())
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["checkpoint"]["size"] == 8
    assert report["trainings"][0]["sites"]["site-b"]["epsilon"] == 3.0

    entry = json.loads(base64.b64decode(bundle["entries"][2]["data"]))
    entry["privacy_loss"]["epsilon"] = "0.3"  # someone understates site-b's spending
    bundle["entries"][2]["data"] = base64.b64encode(
        json.dumps(entry, separators=(",", ":"), sort_keys=True).encode()).decode()
    bundle["entries"][2].pop("leaf_hash", None)
    path.write_text(json.dumps(bundle))
    tampered = safecity("audit", "report", "--bundle", str(path), "--log-key",
                        key.verifier.vkey())
    assert tampered.returncode == 1 and tampered.stdout == ""
    assert "does not verify" in tampered.stderr
    assert "root does not match the entries" in tampered.stderr
