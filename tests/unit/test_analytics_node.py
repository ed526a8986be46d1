"""Analytics inside a node run on real CCTV (vtest.avi): raw frames in memory -> motion blobs ->
tracks -> rules -> anonymous events with site-local tokens in the node's event store.

By hand (tests/data/real/labels.json): the plaza holds 7 people at frame 75 and 8 at frame 125,
within the first 15 s, so an occupancy limit of 5 must fire. Entries into a zone carry one token
per track."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nodes.config import load_settings
from nodes.events import EventStore
from nodes.node import run_node
from tests.unit.test_detection_vtest import VTEST


@pytest.mark.slow  # 15 s of 768x576 video through redaction and analytics
def test_a_node_run_stores_anonymous_events(tmp_path: Path, model_dir: Path) -> None:
    assert VTEST.exists(), "apt-get install -y opencv-doc (.ci/run does)"
    config = tmp_path / "node.toml"
    config.write_text(
        f'site_id = "test-site"\ndata_dir = "{tmp_path / "data"}"\nplate_sightings = false\n'
        f'[[cameras]]\nid = "plaza"\nsource = "{VTEST}"\nmax_seconds = 15\n'
        '[[cameras.analytics.zones]]\nid = "square"\n'
        'polygon = [[0.0, 0.3], [1.0, 0.15], [1.0, 0.8], [0.0, 0.8]]\n'
        '[[cameras.analytics.zones]]\nid = "lawn-corner"\n'
        'polygon = [[0.8, 0.9], [1.0, 0.9], [1.0, 1.0], [0.8, 1.0]]\n'
        '[[cameras.analytics.rules]]\ntype = "occupancy"\nid = "busy"\nzone = "square"\n'
        'max_count = 5\n'
        '[[cameras.analytics.rules]]\ntype = "restricted_area"\nid = "corner"\n'
        'zone = "lawn-corner"\n')
    settings = load_settings(config, model_dir=model_dir)
    (report,) = run_node(settings)
    assert report.status == "ok", report.error
    store = EventStore(settings.stores.events)
    try:
        events = store.all("plaza")
    finally:
        store.close()
    assert report.events == len(events)
    busy = [e for e in events if e.rule == "busy"]
    assert busy and all(e.type == "occupancy" and e.count > 5 and e.tokens == () for e in busy)
    for entry in (e for e in events if e.rule == "corner"):
        assert entry.type == "restricted_area" and len(entry.tokens) == 1
        assert len(entry.tokens[0]) == 16 and int(entry.tokens[0], 16) >= 0
    database = sqlite3.connect(settings.stores.events)
    columns = [row[1] for row in database.execute("PRAGMA table_info(events)")]
    assert columns == ["id", "type", "rule", "camera", "zone", "line", "direction", "time",
                       "count", "tokens", "sent", "score"]  # no pixels, no identities
    visits = [row[1] for row in database.execute("PRAGMA table_info(visits)")]
    assert visits == ["id", "camera", "zone", "entered", "seconds"]  # no track, no token
    assert database.execute("SELECT COUNT(*) FROM visits").fetchone()[0] > 0
