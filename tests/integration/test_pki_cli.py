"""The pki command (run as a process) makes a city CA once and issues host certificates."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_pki import handshake


def test_the_pki_command_makes_a_ca_once_and_issues_host_certificates(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    def safecity(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from nodes.cli import main; main()",
                               "pki", *args],
                              check=False, capture_output=True, text=True, timeout=60)

    made = safecity("init", "--out", str(tmp_path / "ca"))
    assert made.returncode == 0, made.stderr
    ca = json.loads(made.stdout)
    assert len(ca["sha256"]) == 64 and oct(Path(ca["key"]).stat().st_mode & 0o777) == "0o600"
    again = safecity("init", "--out", str(tmp_path / "ca"))
    assert again.returncode == 1 and "a city has one CA" in again.stderr
    host = safecity("issue", "--ca", str(tmp_path / "ca"), "--name", "coordinator", "--host",
                    "10.20.0.1", "--host", "coordinator.city", "--out", str(tmp_path / "hosts"))
    assert host.returncode == 0, host.stderr
    issued = json.loads(host.stdout)
    handshake(Path(ca["certificate"]), Path(issued["certificate"]), Path(issued["key"]),
              "coordinator.city")
    missing = safecity("issue", "--ca", str(tmp_path / "hosts"), "--name", "x", "--host", "a",
                       "--out", str(tmp_path / "x"))
    assert missing.returncode == 1 and "safecity pki init" in missing.stderr
