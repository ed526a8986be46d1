"""The audit commands and HTTP routes as users meet them: real processes, a real server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.support.served import free_port

SAFECITY = [sys.executable, "-c", "from nodes.cli import main; main()"]


def safecity(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # an upper bound, not a speed claim (verifying a log of 1,100 entries takes about 5 s)
    return subprocess.run([*SAFECITY, *args], check=False, capture_output=True, text=True,
                          input=stdin, timeout=300)


EVENT = json.dumps({
    "actor": {"pseudonym": "officer-7", "role": "police_analyst", "agency": "city-pd"},
    "action": "warrant_registered", "legal_basis": "warrant", "warrant_id": "w-1",
    "purpose_code": "missing-person", "outcome": "registered",
    "details": {"case_number": "C-2026-0042", "targets": ["AB12CDE"]},
})


@pytest.fixture(scope="module")
def five_entries(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    """The keys (made with `audit keygen`) and a log of five entries (each appended with `audit
    append`), made once for the module: each test serves its own copy of the log, and no test
    changes a key."""
    folder = tmp_path_factory.mktemp("five-entries")
    key = folder / "log.key"
    done = safecity("audit", "keygen", "city.example/audit", "--out", str(key))
    assert done.returncode == 0, done.stderr
    log_vkey = done.stdout.strip()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    witness_key = folder / "witness.key"
    witness_vkey = safecity("audit", "keygen", "node-1.city.example/witness", "--out",
                            str(witness_key), "--witness").stdout.strip()
    db = f"sqlite:///{folder / 'audit.db'}"
    for _ in range(5):
        done = safecity("audit", "append", "--db", db, "--key", str(key), stdin=EVENT)
        assert done.returncode == 0, done.stderr
    return {"key": key, "log_vkey": log_vkey, "witness_key": witness_key,
            "witness_vkey": witness_vkey, "path": folder / "audit.db"}


@pytest.fixture
def served(tmp_path: Path, five_entries: dict):  # type: ignore[type-arg]
    key, log_vkey, witness_vkey = (five_entries["key"], five_entries["log_vkey"],
                                   five_entries["witness_vkey"])
    witness_key = five_entries["witness_key"]
    with closing(sqlite3.connect(five_entries["path"])) as source, \
            closing(sqlite3.connect(tmp_path / "audit.db")) as copy:
        source.backup(copy)  # the whole log, whatever its write-ahead log still holds
    db = f"sqlite:///{tmp_path / 'audit.db'}"
    port = free_port()
    server = subprocess.Popen([*SAFECITY, "audit", "serve", "--db", db, "--key", str(key),
                               "--port", str(port), "--witness-key", witness_vkey],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/audit/checkpoint", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield {"url": url, "db": db, "key": key, "log_vkey": log_vkey, "witness_key": witness_key,
           "witness_vkey": witness_vkey, "path": tmp_path / "audit.db", "tmp": tmp_path}
    server.terminate()
    server.wait(timeout=10)


def test_verify_prove_and_cosign_against_a_running_log(served) -> None:
    url, tmp = served["url"], served["tmp"]
    done = safecity("audit", "verify", "--url", url, "--log-key", served["log_vkey"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: the log of 5 entries verifies" in done.stdout

    # the public leaf has commitments, not the case number or the plate
    entry = httpx.get(f"{url}/audit/entries/0").json()
    assert "AB12CDE" not in json.dumps(entry) and "C-2026" not in json.dumps(entry)
    assert set(entry["record"]["commitments"]) == {"case_number", "targets"}

    receipt = tmp / "receipt.json"
    assert safecity("audit", "prove", "3", "--url", url, "--out", str(receipt)).returncode == 0
    done = safecity("audit", "verify-receipt", str(receipt), "--log-key", served["log_vkey"])
    assert done.returncode == 0 and "OK: entry 3" in done.stdout

    forged = json.loads(receipt.read_text())
    forged["index"] = 2
    (tmp / "forged.json").write_text(json.dumps(forged))
    done = safecity("audit", "verify-receipt", str(tmp / "forged.json"),
                    "--log-key", served["log_vkey"])
    assert done.returncode == 1 and "inclusion proof does not lead to the root" in done.stderr

    state = tmp / "witness-state.json"
    cosign = ["audit", "cosign", "--url", url, "--log-key", served["log_vkey"],
              "--witness-key", str(served["witness_key"]), "--state", str(state)]
    assert safecity(*cosign).returncode == 0
    assert safecity("audit", "append", "--db", served["db"], "--key", str(served["key"]),
                    stdin=EVENT).returncode == 0
    done = safecity(*cosign)  # second time: checks consistency from size 5 to 6 first
    assert done.returncode == 0, done.stderr
    assert json.loads(state.read_text())["city.example/audit"]["size"] == 6
    done = safecity("audit", "verify", "--url", url, "--log-key", served["log_vkey"],
                    "--witness-key", served["witness_vkey"])
    assert done.returncode == 0 and "cosignatures: 2" in done.stdout


def test_a_log_tampered_behind_the_server_fails_verification(served) -> None:
    with sqlite3.connect(served["path"]) as db:
        db.execute("DELETE FROM audit_entries WHERE idx = 2")
    done = safecity("audit", "verify", "--url", served["url"], "--log-key", served["log_vkey"])
    assert done.returncode == 1
    assert "PROBLEM entry 2: is missing" in done.stdout


def test_bad_requests_get_problem_details(served) -> None:
    url = served["url"]
    for path, status in [("/audit/entries/99", 404),
                         ("/audit/proofs/inclusion?index=9&size=2", 400),
                         ("/audit/proofs/inclusion?index=x&size=2", 422),
                         ("/audit/proofs/consistency?first=4&second=2", 400)]:
        response = httpx.get(url + path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == status and body["detail"]
    response = httpx.post(f"{url}/audit/cosignatures", content="not a note")
    assert response.status_code == 400 and "note" in response.json()["detail"]


def test_an_entry_that_no_longer_parses_is_a_problem_naming_it(served) -> None:
    """A row altered in the database so that it is no record at all: the page holding it and
    the entry itself answer a problem that names the index, not an internal error."""
    with sqlite3.connect(served["path"]) as db:
        db.execute("UPDATE audit_entries SET data = ? WHERE idx = 3", (b"\xff not json",))
    for path in ("/audit/entries", "/audit/entries?start=2&limit=5", "/audit/entries/3"):
        response = httpx.get(served["url"] + path)
        assert response.status_code == 409, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 409 and "audit entry 3 " in body["detail"], body
    assert httpx.get(served["url"] + "/audit/entries?start=4").status_code == 200
    assert httpx.get(served["url"] + "/audit/entries/2").status_code == 200


def test_export_and_verify_a_bundle_offline(served) -> None:
    bundle = served["tmp"] / "bundle.json"
    done = safecity("audit", "export", "--db", served["db"], "--origin", "city.example/audit",
                    "--out", str(bundle))
    assert done.returncode == 0, done.stderr
    done = safecity("audit", "verify", "--bundle", str(bundle), "--log-key", served["log_vkey"])
    assert done.returncode == 0 and "OK" in done.stdout
    other = safecity("audit", "keygen", "city.example/audit", "--out",
                     str(served["tmp"] / "other.key")).stdout.strip()
    done = safecity("audit", "verify", "--bundle", str(bundle), "--log-key", other)
    assert done.returncode == 1 and "not signed by city.example/audit" in done.stdout
    (served["tmp"] / "junk.json").write_text("{")
    done = safecity("audit", "verify", "--bundle", str(served["tmp"] / "junk.json"),
                    "--log-key", served["log_vkey"])
    assert done.returncode == 1 and "not JSON" in done.stderr and "Traceback" not in done.stderr


def test_remembered_head_catches_a_rollback(served) -> None:
    seen = served["tmp"] / "seen.checkpoint"
    args = ["audit", "verify", "--url", served["url"], "--log-key", served["log_vkey"],
            "--remember", str(seen)]
    assert safecity(*args).returncode == 0 and seen.exists()
    # the operator rolls the whole database back to 3 entries, checkpoints included
    with sqlite3.connect(served["path"]) as db:
        db.execute("DELETE FROM audit_entries WHERE idx >= 3")
        db.execute("DELETE FROM audit_checkpoints WHERE size > 3")
    done = safecity(*args)
    assert done.returncode == 1
    assert "previously seen checkpoint of size 5: the log is now smaller" in done.stdout


def grow(served: dict, entries: int, batch: int) -> None:  # type: ignore[type-arg]
    """Append ``entries`` more events to the served log, ``batch`` per checkpoint."""
    from audit.keys import load_log_key
    from audit.log import AuditLog
    from audit.records import Event

    with AuditLog(served["db"], load_log_key(served["key"])) as log:
        event = Event.model_validate_json(EVENT)
        for start in range(0, entries, batch):
            log.append_many([event.model_copy(update={"event_id": f"grown-{start + i}"})
                             for i in range(min(batch, entries - start))])


def test_verify_reads_every_page_of_a_log_larger_than_one(served) -> None:
    """/audit/bundle and /audit/checkpoints answer a page at a time (a bounded answer, however
    long the log grows); `audit verify --url` follows the pages and checks the whole log,
    and a tampered entry on a later page is still found."""
    from audit.routes import MAX_PAGE

    grow(served, MAX_PAGE + 100, 150)
    url, total = served["url"], MAX_PAGE + 105
    first = httpx.get(f"{url}/audit/bundle")
    assert first.status_code == 200
    page = first.json()
    assert len(page["entries"]) == MAX_PAGE
    assert page["next"] == f"bundle?cursor={MAX_PAGE}&limit={MAX_PAGE}"
    assert first.headers["link"] == f'<{page["next"]}>; rel="next"'
    assert all(int(note.split("\n")[1]) <= MAX_PAGE for note in page["checkpoints"])
    assert httpx.get(f"{url}/audit/bundle?limit={MAX_PAGE + 1}").status_code == 422
    small = httpx.get(f"{url}/audit/bundle?cursor=3&limit=2").json()
    assert [e["index"] for e in small["entries"]] == [3, 4] and small["next"].startswith(
        "bundle?cursor=5&")
    notes, link = [], "checkpoints?limit=7"
    while link:
        body = httpx.get(f"{url}/audit/{link}").json()
        assert len(body["checkpoints"]) <= 7
        notes += body["checkpoints"]
        link = body["next"]
    assert len(notes) == 5 + 8 and int(notes[-1].split("\n")[1]) == total

    done = safecity("audit", "verify", "--url", url, "--log-key", served["log_vkey"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"entries: {total} " in done.stdout and f"OK: the log of {total} entries" in done.stdout
    with sqlite3.connect(served["path"]) as db:
        db.execute("UPDATE audit_entries SET data = CAST(REPLACE(CAST(data AS TEXT), 'w-1', "
                   "'w-2') AS BLOB) WHERE idx = ?", (MAX_PAGE + 50,))
    done = safecity("audit", "verify", "--url", url, "--log-key", served["log_vkey"])
    assert done.returncode == 1
    assert f"PROBLEM entry {MAX_PAGE + 50}: its data does not match" in done.stdout
