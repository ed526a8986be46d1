"""The transparency report command (run as a process) verifies the log first."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from audit.keys import new_log_key
from audit.log import AuditLog, read_bundle
from audit.storage import engines
from tests.unit.test_transparency import events


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
