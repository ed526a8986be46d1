"""A short redacted clip around an event, cut from the redacted frames as they pass: the frames
before the event's (from the ring) and after it, at the clip's rate, each with its index and
its time, the event's frame boxed; frames the redactor never handed over are missing, not
invented; a clip begun when the stream ends is cut short. The event store keeps clips by their
event (a schema 3 store gains the tables), purges them at ``evidence_clip_hours`` with an audit
entry, and the settings never let a clip outlive the raw video or the contract's frame cap."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from audit.keys import new_log_key
from audit.log import AuditLog
from audit.records import Action, PublicRecord
from nodes.config import NodeSettings
from nodes.event_sender import ClipSender
from nodes.events import MIGRATIONS, Clip, EventStore, StoredEvent
from nodes.evidence import BOX_COLOUR
from nodes.evidence_clip import ClipTaker
from nodes.local_db import open_store, schema_version
from nodes.retention import purge_stores
from privacy.redaction.engine import RedactedFrame
from privacy.signing import SigningKey

T = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)


def frame(index: int) -> RedactedFrame:
    image = np.full((360, 640, 3), index % 200, np.uint8)  # each frame its own grey
    return RedactedFrame(index, image, [])


def grey(jpeg: bytes) -> int:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return int(np.median(image))


def test_a_clip_holds_the_frames_around_the_event_with_their_times() -> None:
    taker = ClipTaker("gate", 10.0, before=1.0, after=1.0, fps=5.0, width=320)
    clips = []
    for index in range(40):
        if index == 20:
            taker.want(20, seq=7, time=T, box=(100, 100, 300, 300))
        clips += taker.offer(frame(index))
    [clip] = clips
    assert clip.seq == 7 and clip.camera == "gate"
    assert [f.index for f in clip.frames] == [10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]
    assert [f.time for f in clip.frames] == [T + timedelta(seconds=(i - 20) / 10)
                                            for i in range(10, 31, 2)]
    assert all(abs(grey(f.jpeg) - f.index) <= 2 for f in clip.frames)  # the frame it says
    assert all(f.width == 320 and f.height == 180 for f in clip.frames)
    [boxed] = [f for f in clip.frames if f.box is not None]
    assert boxed.index == 20 and boxed.box == (50, 50, 150, 150)
    image = cv2.imdecode(np.frombuffer(boxed.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(image[50, 100].astype(int) - BOX_COLOUR).max() < 60  # drawn on it


def test_missing_frames_stay_missing_and_the_end_cuts_a_clip_short() -> None:
    taker = ClipTaker("gate", 10.0, before=0.4, after=2.0, fps=10.0)
    taker.want(5, seq=1, time=T, box=None)
    clips = []
    for index in (0, 1, 2, 3, 4, 6, 7, 8):  # the redactor never handed over frame 5
        clips += taker.offer(frame(index))
    assert clips == []
    [clip] = taker.finish()
    assert [f.index for f in clip.frames] == [1, 2, 3, 4, 6, 7, 8]
    assert clip.frames[4].time == T + timedelta(seconds=0.1)  # frame 6 is the event's stand-in
    assert taker.finish() == []


def stored_clip(seq: int, time: datetime) -> Clip:
    taker = ClipTaker("gate", 10.0, before=0.2, after=0.2, fps=10.0, width=160)
    taker.want(2, seq=seq, time=time, box=(10, 10, 200, 200))
    return next(c for index in range(5) for c in taker.offer(frame(index)))


def test_the_event_store_keeps_a_clip_by_its_event(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    try:
        cut = stored_clip(4, T)
        store.add_clip(cut)
        assert store.clip(4, "gate") == cut  # every frame, its time, box and event mark
        assert [f.event_frame for f in cut.frames] == [False, False, True, False, False]
        assert store.clip(4, "lobby") is None and store.clip(5, "gate") is None
    finally:
        store.close()


def test_a_store_of_schema_3_gains_the_clip_tables_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    old = open_store(path, MIGRATIONS[:3])
    old.execute("INSERT INTO evidence (seq, camera, time, width, height, jpeg) "
                "VALUES (1, 'gate', ?, 8, 8, x'ffd8')", (T.isoformat(),))
    old.close()
    store = EventStore(path)
    try:
        assert [e.seq for e in store.evidence()] == [1]
        store.add_clip(stored_clip(1, T))
        assert store.clip(1, "gate") is not None
    finally:
        store.close()
    reopened = open_store(path, MIGRATIONS)
    assert schema_version(reopened) == len(MIGRATIONS) == 5
    reopened.close()


def test_clips_are_purged_at_their_hours_with_an_audit_entry(tmp_path: Path) -> None:
    settings = NodeSettings(site_id="site-a", data_dir=tmp_path, evidence_clip_hours=72)
    now = T + timedelta(days=5)
    store = EventStore(settings.stores.events)
    try:
        store.add_many([StoredEvent("restricted_area", "r", "gate", "all", None, None, t, 1, ())
                        for t in (now - timedelta(hours=73), now - timedelta(hours=1))])
        store.add_clip(stored_clip(1, now - timedelta(hours=73)))
        store.add_clip(stored_clip(2, now - timedelta(hours=1)))
        assert store.queue_clip_answer("0" * 36, "gate", "sent", [{"old": 1}],
                                       now - timedelta(hours=80), now - timedelta(hours=80),
                                       lambda: None)
    finally:
        store.close()
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite'}", new_log_key("test.example/n",
                                                                      tmp_path / "log.key"))
    try:
        gone = purge_stores(settings, audit, now, ())
        [entry] = [PublicRecord.from_leaf(e.data) for e in audit.entries()]
    finally:
        audit.close()
    assert gone["clip_frames_deleted"] == 5 and gone["events_deleted"] == 0
    assert entry.action is Action.RETENTION_PURGE
    assert entry.purpose_code == "evidence_clip_retention" and entry.counts_returned == 7
    store = EventStore(settings.stores.events)
    try:
        assert store.clip(1, "gate") is None and store.clip(2, "gate") is not None
        assert store.clip_outbox(10) == [] and store.clip_answer("0" * 36) is None
        assert len(store.all()) == 2  # the events keep the raw video's retention
    finally:
        store.close()


@pytest.mark.parametrize("settings, words", [
    ({"evidence_clip_hours": 24 * 31}, "exceeds the raw video's retention (30 days"),
    ({"cameras": [{"id": "gate", "source": "synthetic:", "retention_days": 2}]},
     "exceeds the raw video's retention (2 days"),
    ({"evidence_clip_before_seconds": 10, "evidence_clip_fps": 10}, "frames a clip may have"),
    ({"evidence_clip_max_bytes": 80_001}, "less than or equal to 80000"),
])
def test_clip_settings_stay_within_the_raw_video_and_the_contract(
        tmp_path: Path, settings: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(words)):
        NodeSettings(site_id="site-a", data_dir=tmp_path, **settings)


def test_no_clip_hours_means_no_clips_and_fits_any_retention(tmp_path: Path) -> None:
    settings = NodeSettings(site_id="site-a", data_dir=tmp_path, retention_days=0,
                            evidence_clip_hours=0)
    assert settings.evidence_clip_hours == 0
    assert NodeSettings(site_id="s", data_dir=tmp_path).evidence_clip_hours == 72


def test_an_unsent_answer_is_purged_and_never_sent_by_its_oldest_frame(tmp_path: Path) -> None:
    """Queued an hour ago, its frames 71 hours old: at 72 hours of the frames it goes, however
    recently it was queued, by the purge and by the sender alike."""
    settings = NodeSettings(site_id="site-a", data_dir=tmp_path, evidence_clip_hours=72)
    now = T + timedelta(days=5)
    store = EventStore(settings.stores.events)
    try:
        for request_id, oldest in (("1" * 36, now - timedelta(hours=71)), ("2" * 36, now)):
            assert store.queue_clip_answer(request_id, "gate", "sent", [{"id": request_id}],
                                           now - timedelta(hours=1), oldest, lambda: None)
        sent: list[dict[str, object]] = []
        late = ClipSender(store, sent.append, "n", "site-a", SigningKey.generate(),
                          keep=timedelta(hours=72), clock=lambda: now + timedelta(hours=2))
        assert late.send_pending() == 2 and sent == [{"id": "2" * 36}]  # the old one dropped
        assert store.queue_clip_answer("3" * 36, "gate", "sent", [{"id": 3}],
                                       now - timedelta(hours=1), now - timedelta(hours=71),
                                       lambda: None)
    finally:
        store.close()
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite'}", new_log_key("test.example/n",
                                                                      tmp_path / "log.key"))
    try:
        gone = purge_stores(settings, audit, now + timedelta(hours=2), ())
    finally:
        audit.close()
    assert gone["clip_frames_deleted"] == 0
    store = EventStore(settings.stores.events)
    try:
        assert store.clip_outbox(10) == []  # purged by its frames' time, queued 3 hours before
    finally:
        store.close()


def test_a_failed_audit_entry_claims_and_queues_nothing(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    try:
        def fails() -> None:
            raise OSError("audit log away")

        with pytest.raises(OSError):
            store.queue_clip_answer("1" * 36, "gate", "sent", [{"x": 1}], T, T, fails)
        assert store.clip_answer("1" * 36) is None and store.clip_outbox(10) == []
        assert store.queue_clip_answer("1" * 36, "gate", "sent", [{"x": 1}], T, T, lambda: None)
        assert not store.queue_clip_answer("1" * 36, "gate", "sent", [{"x": 1}], T, T,
                                           lambda: None)  # claimed: answered once
        assert len(store.clip_outbox(10)) == 1
    finally:
        store.close()


def event_at(time: datetime) -> StoredEvent:
    return StoredEvent("restricted_area", "r", "gate", "all", None, None, time, 1, ())


def test_event_numbers_are_never_reused_after_the_newest_are_purged(tmp_path: Path) -> None:
    """The coordinator knows an event by (node, number): a number used again after the
    retention purge made it drop the new alert as a resend, and a clip request for the old
    one get the new one's frames."""
    store = EventStore(tmp_path / "events.sqlite")
    try:
        assert store.add_many([event_at(T), event_at(T)]) == [1, 2]
        store.purge(lambda camera: T + timedelta(days=1), lambda doomed: None)
        assert store.all() == []
        assert store.add_many([event_at(T + timedelta(days=2))]) == [3]
    finally:
        store.close()
    store = EventStore(tmp_path / "events.sqlite")  # and after reopening
    try:
        store.purge(lambda camera: T + timedelta(days=3), lambda doomed: None)
        assert store.add_many([event_at(T + timedelta(days=4))]) == [4]
    finally:
        store.close()


def test_a_store_of_schema_4_keeps_its_numbers_and_counts_on_past_its_evidence(
        tmp_path: Path) -> None:
    """The upgrade rebuilds the events table with AUTOINCREMENT, its rows and numbers kept; its
    high-water mark starts past every number the store still shows (event 7's evidence and
    clip outlived the event), and an unsent answer's oldest time is its queue time."""
    path = tmp_path / "events.sqlite"
    old = open_store(path, MIGRATIONS[:4])
    for seq in (3, 5):
        old.execute("INSERT INTO events (id, type, rule, camera, zone, time, count, tokens) "
                    "VALUES (?, 'restricted_area', 'r', 'gate', 'all', ?, 1, '[]')",
                    (seq, T.isoformat()))
    old.execute("INSERT INTO evidence (seq, camera, time, width, height, jpeg) "
                "VALUES (7, 'gate', ?, 8, 8, x'ffd8')", (T.isoformat(),))
    old.execute("INSERT INTO clip_outbox (camera, queued, body) VALUES ('gate', ?, '{}')",
                (T.isoformat(),))
    old.close()
    store = EventStore(path)
    try:
        assert [e.seq for e in store.all()] == [3, 5]
        assert store.add_many([event_at(T)]) == [8]
        assert store.clip_outbox(10) == [(1, T, {})]
    finally:
        store.close()
