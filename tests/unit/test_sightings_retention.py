"""Plate sightings, events and zone visits are deleted at their camera's retention, the same
whole UTC days the vault shreds raw video at, by the same `safecity vault purge`: logged first,
with the count, and the deleted thumbnails zeroed on disk (``secure_delete``)."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit.keys import load_log_key
from audit.log import AuditLog
from audit.records import Action, PublicRecord
from nodes.cli import main
from nodes.config import load_settings
from nodes.events import EventStore, StoredEvent, StoredEvidence
from nodes.identity import load_identity
from nodes.retention import Retention, purge_stores
from nodes.sightings import SightingStore
from nodes.vault.site import open_vault

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
RETENTION = Retention({"gate": 90}, 30)  # "street" keeps the node's 30 days


def thumb() -> bytes:
    """A thumbnail larger than a page, so it sits in overflow pages too."""
    return b"\xff\xd8" + os.urandom(6000)


def on_disk(path: Path) -> bytes:
    """The store's bytes, its WAL included."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def pieces_found(thumbnail: bytes, raw: bytes) -> int:
    """How many of the thumbnail's 24 pieces of 32 bytes are in ``raw`` (a thumbnail spans
    several pages, so it is not stored in one run; a piece may straddle two pages)."""
    return sum(thumbnail[i:i + 32] in raw for i in range(0, 6000, 250))


def test_the_cutoff_is_the_vaults_first_kept_day() -> None:
    assert RETENTION.first_kept_day("street", NOW.date()) == date(2026, 10, 3)
    assert RETENTION.cutoff("street", NOW) == datetime(2026, 10, 3, tzinfo=UTC)
    assert RETENTION.cutoff("gate", NOW) == datetime(2026, 8, 4, tzinfo=UTC)
    assert Retention({}, 0).cutoff("street", NOW) == datetime(2026, 11, 2, tzinfo=UTC)


def test_sightings_past_retention_are_gone_thumbnails_and_all(tmp_path: Path) -> None:
    path = tmp_path / "sightings.sqlite"
    store = SightingStore(path, b"k" * 32)
    cutoff = RETENTION.cutoff("street", NOW)
    old, edge, new, gate_old = thumb(), thumb(), thumb(), thumb()
    store.add_many([
        ("street", NOW - timedelta(days=40), 1, "AB123CD", old),
        ("street", cutoff - timedelta(microseconds=1), 2, "EF456GH", thumb()),
        ("street", cutoff, 3, "EF456GH", edge),  # the first moment kept
        ("street", NOW - timedelta(days=1), 4, "AB123CD", new),
        ("gate", NOW - timedelta(days=40), 5, "AB123CD", gate_old),  # gate keeps 90 days
    ])
    window = (NOW - timedelta(days=365), NOW + timedelta(days=1))
    assert pieces_found(old, on_disk(path)) >= 20
    # another process of the node (its query worker) holds the store open, so its WAL stays
    reader = SightingStore(path, b"k" * 32)
    announced: list[dict[str, dict[str, int]]] = []
    try:
        assert store.purge(lambda camera: RETENTION.cutoff(camera, NOW),
                           announced.append) == 2
        assert announced == [{"sightings": {"street": 2}}]
        found = store.match(["AB123CD", "EF456GH"], ["street", "gate"], *window)
        assert [(s.camera, s.target, s.thumbnail) for s in found] == [
            ("gate", "AB123CD", gate_old), ("street", "EF456GH", edge),
            ("street", "AB123CD", new)]
        assert store.count(["street"], *window) == 2
        assert store.count(["street"], window[0], cutoff) == 0
        assert store.count(["gate"], *window) == 1
        # nothing left past retention: a second purge deletes and announces nothing
        assert store.purge(lambda camera: RETENTION.cutoff(camera, NOW),
                           announced.append) == 0
        assert len(announced) == 1
        assert reader.count(["street"], *window) == 2
        raw = on_disk(path)
        assert pieces_found(old, raw) == 0
        for kept in (edge, new, gate_old):
            assert pieces_found(kept, raw) >= 20
    finally:
        store.close()
        reader.close()
    assert pieces_found(old, on_disk(path)) == 0


def test_nothing_is_deleted_before_it_is_announced(tmp_path: Path) -> None:
    path = tmp_path / "sightings.sqlite"
    store = SightingStore(path, b"k" * 32)
    store.add("street", NOW - timedelta(days=40), 1, "AB123CD", thumb())
    window = (NOW - timedelta(days=365), NOW)
    reader = SightingStore(path, b"k" * 32)  # another process of the node, reading

    def refuse(doomed: dict[str, dict[str, int]]) -> None:
        assert reader.count(["street"], *window) == 1  # announced while still there
        raise OSError("the audit log's disk is full")

    try:
        with pytest.raises(OSError, match="disk is full"):
            store.purge(lambda camera: RETENTION.cutoff(camera, NOW), refuse)
        assert store.count(["street"], *window) == 1  # not logged, so not deleted
        seen: list[int] = []
        assert store.purge(lambda camera: RETENTION.cutoff(camera, NOW),
                           lambda doomed: seen.append(reader.count(["street"], *window))) == 1
        assert seen == [1]
        assert reader.count(["street"], *window) == 0
    finally:
        store.close()
        reader.close()


def test_events_their_evidence_and_visits_past_retention_are_deleted(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    cutoff = RETENTION.cutoff("street", NOW)

    def event(camera: str, moment: datetime) -> StoredEvent:
        return StoredEvent("zone_entry", "busy", camera, "door", None, None, moment, 1, ("t1",))

    seqs = store.add_many([event("street", NOW - timedelta(days=40)),
                           event("street", cutoff - timedelta(microseconds=1)),
                           event("street", cutoff), event("gate", NOW - timedelta(days=40))])
    for seq, moment in ((seqs[1], cutoff - timedelta(microseconds=1)), (seqs[2], cutoff)):
        store.add_evidence(StoredEvidence(seq, "street", moment, 64, 36, None, b"\xff\xd8\xff"))
    store.mark_sent([store.all()[0].seq])  # sent or not, past retention it goes
    store.add_visits("street", [("door", NOW - timedelta(days=40), 3.0),
                                ("door", NOW - timedelta(days=2), 4.0)])
    announced: list[dict[str, dict[str, int]]] = []
    try:
        assert store.purge(lambda camera: RETENTION.cutoff(camera, NOW), announced.append) \
            == {"events": 2, "evidence": 1, "visits": 1}
        assert announced == [{"events": {"street": 2}, "evidence": {"street": 1},
                              "visits": {"street": 1}}]
        assert [e.seq for e in store.evidence()] == [seqs[2]]  # with its event, kept
        assert [(e.camera, e.time) for e in store.all()] == [
            ("street", cutoff), ("gate", NOW - timedelta(days=40))]
        assert store.visits(["street"], NOW - timedelta(days=365), NOW) == [
            ("street", "door", NOW - timedelta(days=2), 4.0)]
    finally:
        store.close()


@pytest.fixture
def node(tmp_path: Path) -> Path:
    config = tmp_path / "node.toml"
    config.write_text(f'site_id = "site-5"\ndata_dir = "{tmp_path / "data"}"\n'
                      '[[cameras]]\nid = "street"\nsource = "synthetic:seed=1"\n'
                      '[[cameras]]\nid = "gate"\nsource = "synthetic:seed=2"\n'
                      'retention_days = 90\n')
    done = CliRunner().invoke(main, ["vault", "init", "--config", str(config)])
    assert done.exit_code == 0, done.output
    return config


def test_safecity_vault_purge_deletes_video_sightings_and_events_past_retention(
        node: Path) -> None:
    settings = load_settings(node)
    now = datetime.now(UTC)
    long_ago, yesterday = now - timedelta(days=40), now - timedelta(days=1)
    with open_vault(settings) as opened:
        for camera in ("street", "gate"):
            opened.vault.store(camera, long_ago, long_ago + timedelta(seconds=1), b"video")
        opened.vault.store("street", yesterday, yesterday + timedelta(seconds=1), b"video")
    purged = thumb()
    sightings = SightingStore(settings.stores.sightings,
                              load_identity(settings.keys_dir).plate_key)
    sightings.add_many([("street", long_ago, 1, "AB123CD", purged),
                        ("street", yesterday, 2, "EF456GH", thumb()),
                        ("gate", long_ago, 3, "EF456GH", thumb())])
    sightings.close()
    events = EventStore(settings.stores.events)
    (seq,) = events.add_many([StoredEvent("restricted_area", "in", "street", "door", None, None,
                                          long_ago, 1, ())])
    events.add_evidence(StoredEvidence(seq, "street", long_ago, 64, 36, (1, 2, 30, 20),
                                       b"\xff\xd8\xff redacted"))  # goes with its event
    events.close()

    done = CliRunner().invoke(main, ["vault", "purge", "--config", str(node)])

    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {
        "day_keys_destroyed": 1, "segments_deleted": 1, "segments_kept_on_hold": 0,
        "sightings_deleted": 1, "events_deleted": 1, "evidence_deleted": 1,
        "visits_deleted": 0, "clip_frames_deleted": 0, "bodycam_clips_deleted": 0}
    sightings = SightingStore(settings.stores.sightings,
                              load_identity(settings.keys_dir).plate_key)
    try:
        window = (now - timedelta(days=365), now)
        assert sightings.match(["AB123CD"], ["street", "gate"], *window) == []
        assert [(s.camera, s.target) for s in sightings.match(
            ["AB123CD", "EF456GH"], ["street", "gate"], *window)] == [
            ("gate", "EF456GH"), ("street", "EF456GH")]
    finally:
        sightings.close()
    assert pieces_found(purged, on_disk(settings.stores.sightings)) == 0
    log = AuditLog(settings.audit_url, load_log_key(settings.node_key_file))
    try:
        records = [PublicRecord.from_leaf(e.data) for e in log.entries()]
    finally:
        log.close()
    assert [(r.action, r.purpose_code, r.scope.cameras, r.counts_returned) for r in records] == [
        (Action.RETENTION_PURGE, None, ("street",), 1),  # the vault's, first
        (Action.RETENTION_PURGE, "plate_sighting_retention", ("street",), 1),
        (Action.RETENTION_PURGE, "analytics_event_retention", ("street",), 2)]


def test_a_store_the_node_never_wrote_is_left_alone(node: Path) -> None:
    settings = load_settings(node)
    with open_vault(settings) as opened:
        assert purge_stores(settings, opened.log, NOW, ()) == {
            "sightings_deleted": 0, "events_deleted": 0, "evidence_deleted": 0,
            "visits_deleted": 0, "clip_frames_deleted": 0, "bodycam_clips_deleted": 0}
        assert opened.log.size() == 0
    assert not settings.stores.sightings.exists() and not settings.stores.events.exists()
    assert not (settings.keys_dir / "plate.key").exists()
