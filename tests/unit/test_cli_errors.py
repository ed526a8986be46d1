"""The command line ends on a user's error in one way: the root group catches the SafecityError,
prints ``Error: <message>`` as one line on stderr and exits with the error's code (2 for a
usage error, as click's own, 1 for anything else), never with a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from nodes.cli import main


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error: ")]


def test_a_usage_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["audit", "prove", "1", "--out", str(tmp_path / "r.json")])
    assert done.exit_code == 2, done.output
    assert _error_lines(done.output) == ["Error: give --url, or --db and --key"]
    assert "Traceback" not in done.output and not (tmp_path / "r.json").exists()


def test_a_refused_command_is_one_line_and_exit_1(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    ca.mkdir()
    done = CliRunner().invoke(main, ["pki", "issue", "--ca", str(ca), "--name", "Bad Name",
                                     "--host", "a.example", "--out", str(tmp_path / "out")])
    assert done.exit_code == 1, done.output
    assert _error_lines(done.output) == [
        "Error: --name 'Bad Name': lower-case letters, digits, . _ - only"]
    assert "Traceback" not in done.output
