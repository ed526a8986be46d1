"""Several real processes appending at once, and a writer killed with SIGKILL mid-batch,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from audit.log import AuditLog
from audit.records import PublicRecord
from audit.verify import verify_bundle
from tests.conftest import audit_event
from tests.support import tally

WRITER = Path(__file__).resolve().parents[1] / "support" / "audit_writer.py"


def start(url: str, signer, acks: Path, count: int, threads: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WRITER), url, signer.skey(), str(acks),
                             str(count), str(threads)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def acknowledged(paths: list[Path]) -> set[str]:
    ids: set[str] = set()
    for path in paths:
        if path.exists():
            ids |= {line for line in path.read_text().splitlines() if line}
    return ids


def logged(log: AuditLog) -> list[str]:
    return [PublicRecord.from_leaf(e.data).event_id for e in log.entries(0, 1_000_000)]


def test_concurrent_processes_make_one_history(audit_db: str, log_signer, tmp_path: Path) -> None:
    AuditLog(audit_db, log_signer).close()  # create the tables before the race
    acks = [tmp_path / f"acks-{n}" for n in range(4)]
    writers = [start(audit_db, log_signer, path, 60, 4) for path in acks]
    for writer in writers:
        _out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    with AuditLog(audit_db, log_signer) as log:
        ids = logged(log)
        assert len(ids) == 240 and len(set(ids)) == 240
        assert acknowledged(acks) == set(ids)
        report = verify_bundle(log.bundle(), log_signer.verifier)
        assert report.ok, report.problems
        assert report.size == 240


def test_sigkill_mid_batch_loses_no_acknowledged_entry(audit_db: str, log_signer,
                                                        tmp_path: Path) -> None:
    AuditLog(audit_db, log_signer).close()
    acks = tmp_path / "acks"
    writer = start(audit_db, log_signer, acks, 100_000, 8)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(acknowledged([acks])) < 300:
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL, writer.stderr.read() if writer.stderr else ""
    promised = acknowledged([acks])
    assert len(promised) >= 300
    with AuditLog(audit_db, log_signer) as log:  # opens: the head checkpoint matches the entries
        ids = set(logged(log))
        assert promised <= ids, f"{len(promised - ids)} acknowledged entries lost"
        report = verify_bundle(log.bundle(), log_signer.verifier)
        assert report.ok, report.problems
        assert log.append_many([]) == []
        assert log.append(audit_event(1)).index == len(ids)  # and it goes on appending
    tally.add("fault scenarios")
