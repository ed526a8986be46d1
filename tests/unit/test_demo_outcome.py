"""The demo's run folders and its explanation of the watchlist's targets not sighted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from privacy.redaction.boxes import Box
from simulation.demo import fresh_run_folder
from simulation.synthetic import GroundTruth
from simulation.watchlist_outcome import plates_on_camera, unsighted


def test_each_run_gets_a_new_folder_and_an_earlier_run_is_left_as_it_was(tmp_path: Path) -> None:
    now = datetime(2026, 12, 6, 3, 20, tzinfo=UTC)
    first = fresh_run_folder(tmp_path / "demo-output", now)
    (first / "coordinator").mkdir()
    (first / "coordinator" / "demo-logins.json").write_text("{}")
    second = fresh_run_folder(tmp_path / "demo-output", now)  # the same second: still new
    later = fresh_run_folder(tmp_path / "demo-output", datetime(2026, 12, 6, 4, tzinfo=UTC))
    assert first.name == "run-20261206T032000Z" and second.name == "run-20261206T032000Z-2"
    assert later.name == "run-20261206T040000Z"
    assert list(second.iterdir()) == [] and list(later.iterdir()) == []
    assert (first / "coordinator" / "demo-logins.json").read_text() == "{}"


def _plate(label: str, width: float) -> GroundTruth:
    return GroundTruth("plate", Box(0, 0, width, width / 4), 1, label=label)


def test_a_decoy_and_a_plate_never_read_are_told_apart() -> None:
    truths = {"high-street": [[_plate("AB12 CDE", 120)], [_plate("AB12 CDE", 130)]],
              "market-square": [[_plate("XY34 ZZZ", 61.6)], []]}
    on_camera = plates_on_camera(truths)
    assert on_camera["AB12CDE"] == {"cameras": ["high-street"], "frames": 2, "widest_px": 130}
    missed = unsighted(["AB12CDE", "XY34ZZZ", "ZZ99ZZZ"], on_camera, ["AB12CDE"])
    assert missed == [
        "XY34ZZZ was on market-square in 1 frames (at most 62 px wide) but the plate reader "
        "never read it, so it was never a sighting",
        "ZZ99ZZZ is a decoy on no camera (no false match, as it should be)"]
    assert unsighted(["AB12CDE"], on_camera, ["AB12CDE"]) == []
