"""`safecity vault` as operators and custodians use it: real processes, a SIGKILLed recorder."""

from __future__ import annotations

import base64
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

SAFECITY = [sys.executable, "-c", "from nodes.cli import main; main()"]


def safecity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SAFECITY, *args], check=False, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def site(tmp_path: Path, model_dir: Path):
    keys = {}
    for name in ("court", "dpo", "operator", "police"):
        done = safecity("vault", "keygen", name, "--out", str(tmp_path / f"{name}.key"))
        assert done.returncode == 0, done.stderr
        keys[name] = json.loads(done.stdout)["public_key"]
    config = tmp_path / "node.toml"
    config.write_text(f"""
site_id = "site-9"
data_dir = "{tmp_path / 'data'}"
model_dir = "{model_dir}"
segment_seconds = 0.5
custody_threshold = 2
[[custodians]]
name = "court"
public_key = "{keys['court']}"
[[custodians]]
name = "dpo"
public_key = "{keys['dpo']}"
[[custodians]]
name = "operator"
public_key = "{keys['operator']}"
[[cameras]]
id = "gate"
source = "synthetic:seed=3,seconds=2,width=160,height=120,people=1,vehicles=0,fps=10"
[[cameras]]
id = "endless"
source = "synthetic:seed=4,seconds=600,width=160,height=120,people=1,vehicles=0,fps=10"
""")
    done = safecity("vault", "init", "--config", str(config))
    assert done.returncode == 0, done.stderr
    return {"config": str(config), "tmp": tmp_path, "keys": keys,
            "node_key": json.loads(done.stdout)["node_key"]}


def test_record_check_export_and_recover(site) -> None:
    config, tmp = site["config"], site["tmp"]
    done = safecity("vault", "record", "--config", config, "--camera", "gate")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["segments"] == 4
    done = safecity("vault", "check", "--config", config)
    assert done.returncode == 0 and "4 segments checked, 0 damaged" in done.stdout

    index = sqlite3.connect(tmp / "data" / "vault" / "index.sqlite")
    start = index.execute("SELECT min(start) FROM segments").fetchone()[0]
    end = index.execute("SELECT max(end) FROM segments").fetchone()[0]
    out = tmp / "evidence.sce"
    # A bare warrant id with cameras and window of the caller's choosing exports nothing: an
    # export needs the signed warrant and its audit receipt (tests/test_evidence_export.py).
    done = safecity("vault", "export", "--config", config, "--camera", "gate", "--start", start,
                    "--end", end, "--warrant-id", "w-77", "--recipient", site["keys"]["police"],
                    "--recipient-name", "city-pd", "--out", str(out))
    assert done.returncode != 0 and not out.exists()

    custody = tmp / "data" / "custody.json"
    for name in ("court", "dpo", "operator"):
        done = safecity("vault", "open-share", "--custody", str(custody), "--custodian", name,
                        "--key", str(tmp / f"{name}.key"), "--out", str(tmp / f"{name}.share"))
        assert done.returncode == 0, done.stderr
    done = safecity("vault", "recover", "--custody", str(custody), "--share",
                    str(tmp / "court.share"), "--share", str(tmp / "operator.share"),
                    "--out", str(tmp / "recovered.key"))
    assert done.returncode == 0, done.stderr
    master = tmp / "data" / "keys" / "master.key"
    assert (tmp / "recovered.key").read_text() == master.read_text()
    done = safecity("vault", "recover", "--custody", str(custody), "--share",
                    str(tmp / "dpo.share"), "--out", str(tmp / "one.key"))
    assert done.returncode == 1 and "2 shares are needed, 1 given" in done.stderr
    share = bytearray(base64.b64decode((tmp / "dpo.share").read_text()))
    share[4] ^= 1
    (tmp / "bad.share").write_text(base64.b64encode(bytes(share)).decode())
    done = safecity("vault", "recover", "--custody", str(custody), "--share",
                    str(tmp / "bad.share"), "--share", str(tmp / "court.share"),
                    "--out", str(tmp / "bad.key"))
    assert done.returncode == 1 and "one is wrong, corrupted" in done.stderr
    assert not (tmp / "bad.key").exists()


def test_sigkilled_recorder_loses_at_most_one_segment(site) -> None:
    config, tmp = site["config"], site["tmp"]
    recorder = subprocess.Popen([*SAFECITY, "vault", "record", "--config", config,
                                 "--camera", "endless"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    index_path = tmp / "data" / "vault" / "index.sqlite"
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and stored < 6:
        time.sleep(0.2)
        if index_path.exists():
            try:
                stored = sqlite3.connect(index_path).execute(
                    "SELECT count(*) FROM segments WHERE state = 'ok'").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
    time.sleep(0.23)  # land somewhere inside a segment
    recorder.send_signal(signal.SIGKILL)
    recorder.wait(timeout=30)
    assert recorder.returncode == -signal.SIGKILL
    done = safecity("vault", "check", "--config", config)
    assert done.returncode == 0, done.stdout + done.stderr
    checked = int(done.stdout.strip().splitlines()[-1].split()[0])
    assert checked >= stored  # every segment stored before the kill is intact
