"""Plate sightings at the node: read before blurring, stored only as keyed hashes with camera,
time and track, and matched inside a scope only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from nodes.config import load_settings
from nodes.identity import load_identity
from nodes.node import run_node
from nodes.sightings import SightingStore
from privacy import model_registry
from privacy.redaction.plate_reader import PlateReader
from simulation.synthetic import Scene, SceneSpec

SCENE = "seed=9,seconds=2,width=960,height=540,people=1,vehicles=3"


def test_a_node_run_keeps_keyed_hash_sightings_of_the_plates_it_blurred(
        tmp_path: Path, model_dir: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'site_id = "test-site"\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[[cameras]]\nid = "street"\nsource = "synthetic:{SCENE}"\n')
    settings = load_settings(config, model_dir=model_dir)
    started = datetime.now(UTC)
    (report,) = run_node(settings)
    assert report.status == "ok", report.error
    spec = SceneSpec(**{k: (float(v) if k == "seconds" else int(v))
                        for k, v in (item.split("=") for item in SCENE.split(","))})
    plates = {gt.label.replace(" ", "") for _, truth in Scene(spec).frames() for gt in truth
              if gt.kind == "plate"}
    assert len(plates) == 3
    store = SightingStore(settings.stores.sightings,
                          load_identity(settings.keys_dir).plate_key)
    try:
        window = (started - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1))
        found = store.match(sorted(plates), ["street"], *window)
        assert len({s.target for s in found}) >= 2, (plates, found)  # most plates are read
        assert report.plate_sightings >= len(found) > 0
        assert all(s.thumbnail and s.thumbnail[:2] == b"\xff\xd8" for s in found)
        assert store.match(sorted(plates), ["other-camera"], *window) == []
        assert store.match(sorted(plates), ["street"], window[0] - timedelta(days=1),
                           window[0]) == []
    finally:
        store.close()
    raw = (settings.stores.sightings).read_bytes()
    for plate in plates:
        assert plate.encode() not in raw


def test_the_reader_reads_rendered_plates(model_dir: Path) -> None:
    reader = PlateReader(model_registry.model_path("ppocr-rec", model_dir))
    correct = total = 0
    for seed in range(6):
        frame, truth = next(iter(Scene(SceneSpec(width=1280, height=720, seconds=0.04,
                                                 people=0, vehicles=3, seed=seed)).frames()))
        for gt in truth:
            if gt.kind == "plate" and gt.visible > 0.95:
                reading = reader.read(frame, gt.box)
                total += 1
                correct += bool(reading and reading.plate == gt.label.replace(" ", ""))
    assert total >= 12 and correct / total >= 0.6, (correct, total)


def test_readings_are_voted_per_track() -> None:
    from collections import Counter

    from nodes.plate_sightings import chosen

    assert chosen(Counter({"JE": 1, "JE6": 1, "JE61": 2, "JE61XLE": 3, "JE61XI": 1})) == [
        "JE61XLE"]
    assert chosen(Counter({"AB12CDE": 2, "AB12CDF": 2})) == ["AB12CDF", "AB12CDE"]
    assert chosen(Counter({"X1": 1})) == ["X1"]
