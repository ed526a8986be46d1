"""The README's main job, end to end, as a real process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.demo_run import DemoRun


@pytest.mark.slow
def test_demo_redacts_every_camera_and_checks_itself(demo: DemoRun) -> None:
    out = demo.out
    done = subprocess.CompletedProcess([], demo.returncode, demo.stdout, demo.stderr)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [c["camera"] for c in summary["cameras"]] == ["high-street", "market-square"]
    for camera in summary["cameras"]:
        assert camera["status"] == "ok"
        assert camera["faces_in_ground_truth"] > 100
        assert camera["face_recall"] >= 0.95
        # every painted face is in the ground truth, half faces at the frame's edge too
        assert camera["edge_faces_in_ground_truth"] > 50
        assert camera["edge_face_recall"] >= 0.9
        assert camera["faces_found_in_output"] == 0
        assert Path(camera["redacted_video"]).exists()
    assert summary["cameras"][0]["plates_in_ground_truth"] > 0
    assert summary["cameras"][0]["plate_recall"] >= 0.9
    assert "faces covered" in done.stdout
    vault = summary["vault"]
    assert vault["segments_checked"] == 2 and vault["damaged"] == 0
    assert vault["export_verified"] and vault["export_files"] == ["high-street.mkv"]
    assert vault["export_in_city_log"] is not None  # the node's report reached the city's log
    assert all(c["raw_segments_encrypted"] == 1 for c in summary["cameras"])
    city = summary["city"]
    assert city["node_status"] == ["answered"]
    assert len({h["target"] for h in city["hits"]}) >= 2  # plates read before blurring, matched
    assert "ZZ99ZZZ" not in {h["target"] for h in city["hits"]}  # never on camera
    assert city["second_use"] == "used_up" and city["audit_verified"]
    # three witness processes, quorum 2: the query went out under a witnessed checkpoint
    assert city["witnesses"]["pinned"] == 3 and city["witnesses"]["quorum"] == 2
    assert len(city["witnesses"]["cosigned_by"]) >= 2 and city["witnesses"]["witnessed_size"] > 0
    assert "witnesses: the node pinned 3" in done.stdout
    assert "watchlist plates sighted" in done.stdout
    assert city["events_sent"] > 0 and sum(city["alerts"].values()) == city["events_sent"]
    # alerts of one rule, camera and zone within the window are one incident each: fewer
    incidents = city["incidents"]
    assert set(incidents) <= set(city["alerts"]) - {"line_crossing"}
    assert 1 <= sum(incidents.values()) < sum(city["alerts"].values())
    # each with evidence: the node's redacted snapshot, its signature checked (no face in any
    # picture that left the node: tests/e2e/test_egress.py)
    evidence = city["incident_evidence"]
    assert len(evidence) == sum(incidents.values())
    assert all(shots and all(s["intact"] for s in shots) for shots in evidence.values())
    assert city["evidence_sent"] == sum(len(shots) for shots in evidence.values())
    assert "of them with the node's signed, redacted snapshot" in done.stdout
    # one alert's clip, asked for by the operator: logged, sent, answered by the node with its
    # signed redacted frames (no face in any of them: tests/e2e/test_egress.py)
    clip = city["clip"]
    assert clip["state"] == "received" and clip["frames"] >= 1 and clip["intact"], clip
    assert city["aggregate"]["status"] == "answered" and city["aggregate"]["cells"] > 0
    assert "control room:" in done.stdout
    # every camera of both sites stands on the demo city's map, placed by its node's config
    assert city["map"] == {"placed": ["hall@north-hall", "high-street@demo-site",
                                      "market-square@demo-site"], "unplaced": [],
                           "devices": []}  # the demo runs no IoT devices
    training = city["training"]  # two sites trained the unusual-behaviour model, DP-SGD
    assert training["status"] == "completed" and training["rounds"] == 3
    assert sorted(training["epsilon_spent"]) == ["demo-site", "north-hall"]
    assert all(1.9 <= e <= 2.0 for e in training["epsilon_spent"].values())
    assert training["installed_at_demo_node"] and "federated learning: run" in done.stdout
    portal = city["portal"]  # the main command ends with the portal's address, demo data in it
    assert portal["searches"] >= 1 and portal["warrants"] >= 2 and portal["trainings"] == 1
    assert portal["checkpoint_size"] == city["audit_entries"]
    lines = done.stdout.strip().splitlines()
    assert lines[-2].startswith("transparency portal") and portal["address"] in lines[-2]
    # --serve held the portal up until SIGTERM; then the demo says plainly it has stopped
    assert demo.portal_while_serving == 200
    assert lines[-1].startswith("the demo's coordinator has stopped")
    assert f"--config {city['config']}" in lines[-1]


@pytest.mark.slow
def test_demo_says_what_it_is_doing_and_leaves_what_the_pages_need(demo: DemoRun) -> None:
    assert demo.returncode == 0, demo.stderr
    # one line per stage on stderr as it starts, long before the results
    stages = [line.split("] ", 1)[1] for line in demo.stderr.splitlines() if line.startswith("[")]
    assert stages[0].startswith("demo: this run's folder is ")
    assert any(s.startswith("federated learning:") for s in stages)
    assert demo.progress_before_results >= 10
    # the run made its own folder: a second run in the same --out never meets this one's keys
    assert demo.out.name.startswith("run-") and str(demo.out) in demo.stderr
    city = json.loads((demo.out / "summary.json").read_text())["city"]
    logins = json.loads(Path(city["logins"]).read_text())
    assert sorted(city["key_files"]) == ["dpo-1", "judge-1"]
    for name, path in city["key_files"].items():
        key = Path(path)
        assert key.parent == demo.out / "coordinator" and key.stat().st_mode & 0o777 == 0o600
        assert key.read_text().startswith("ed25519-private:")  # what the pages' signer loads
        assert logins[name]["key_file"] == path and path in demo.stdout
    # each target not sighted is explained: the decoy, and a painted plate never read
    sighted = {h["target"] for h in city["hits"]}
    watchline = next(line for line in demo.stdout.splitlines() if "watchlist plates" in line)
    assert "ZZ99ZZZ is a decoy on no camera" in watchline
    for target in set(city["watchlist_on_camera"]) - sighted:
        assert f"{target} was on " in watchline and "never read it" in watchline
