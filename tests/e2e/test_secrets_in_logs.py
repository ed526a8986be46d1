"""No secret in any log or message of a full run: the demo's every log file, its output, its
summary and the public audit log are searched for every private key it made (in each encoding
it could be printed in), every password it used and anything shaped like a bearer token."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support import tally
from tests.support.demo_run import DemoRun
from tests.support.log_scan import key_encodings, leaks


def secrets_of(out: Path) -> dict[str, str]:
    """secret text -> where it came from."""
    found = {}
    for path in out.rglob("*.key"):
        for encoding in key_encodings(path):
            found[encoding] = str(path.relative_to(out))
    logins = json.loads((out / "coordinator" / "demo-logins.json").read_text())
    for name, login in logins.items():
        found[login["password"]] = f"password of {name}"
    return found


def haystack(demo: DemoRun) -> dict[str, str]:
    """place -> text of every log and message of the run."""
    places = {"demo stdout": demo.stdout, "demo stderr": demo.stderr,
              "summary.json": (demo.out / "summary.json").read_text()}
    for path in demo.out.rglob("*.log"):
        places[str(path.relative_to(demo.out))] = path.read_text(errors="replace")
    for path in demo.out.rglob("*.jsonl"):
        places[str(path.relative_to(demo.out))] = path.read_text(errors="replace")
    with sqlite3.connect(f"file:{demo.out / 'coordinator' / 'coordinator.sqlite'}?mode=ro",
                         uri=True) as db:
        entries = db.execute("SELECT data FROM audit_entries").fetchall()
    places["public audit log"] = "\n".join(bytes(row[0]).decode() for row in entries)
    return places


@pytest.mark.slow
def test_no_key_password_or_token_in_any_log_of_a_full_run(demo: DemoRun) -> None:
    assert demo.returncode == 0, demo.stderr
    secrets = secrets_of(demo.out)
    kinds = {origin.split("/")[-1] for origin in secrets.values()}
    assert {"master.key", "identity.key", "seal.key", "plate.key", "dispatch.key",
            "audit-log.key", "token.key", "ca.key", "flower.key"} <= kinds, kinds
    assert sum(origin.startswith("password of") for origin in secrets.values()) >= 6
    places = haystack(demo)
    assert places["public audit log"] and any(p.endswith("coordinator.log") for p in places)
    lines = sum(text.count("\n") + 1 for text in places.values())
    assert lines > 100
    # the search itself works: a log that did print one would be caught
    secret, origin = next(iter(secrets.items()))
    assert leaks({secret: origin}, {"planted": f"debug: key={secret}"})
    assert leaks({}, {"planted": "Authorization: Bearer eyJhbGciOiJFZERTQSJ9."
                                 "eyJzdWIiOiJwb2xpY2UifQ.c2lnbmF0dXJlc2lnbmF0dXJl"})
    assert leaks(secrets, places) == []
    tally.add("log lines scanned for secrets", lines)


@pytest.mark.slow
def test_no_plate_or_person_in_the_process_logs_of_a_full_run(demo: DemoRun) -> None:
    """The processes' logs (not the demo's own report to its user) name no plate that was
    searched for or sighted and no person who took part."""
    summary = json.loads((demo.out / "summary.json").read_text())
    plates = {hit["target"] for hit in summary["city"]["hits"]}
    logins = json.loads((demo.out / "coordinator" / "demo-logins.json").read_text())
    people = {name for name, login in logins.items() if name != login["role"]}  # not "admin"
    assert plates and len(people) >= 5
    logs = {str(p.relative_to(demo.out)): p.read_text(errors="replace")
            for p in demo.out.rglob("*.log")}
    found = [f"{word} in {name}" for name, text in logs.items()
             for word in plates | people if word in text]
    assert found == []
    tally.add("log lines scanned for secrets", sum(t.count("\n") for t in logs.values()))
