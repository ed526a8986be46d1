"""A scored rule's event (weapon, aggression) carries its score from the node's store, through
the signed batch, to the alert queue; events without one are signed as before the field was
added, so batches from older nodes still verify."""

from __future__ import annotations

import base64
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from contract.events import AnalyticsEvent, EventBatch, SignedEventBatch
from coordinator.alert_intake import accept
from kernel.canonical import canonical_json
from nodes import events
from nodes.event_sender import EventSender, message
from nodes.events import EventStore, StoredEvent
from nodes.identity import load_identity
from privacy.signing import SigningKey
from tests.support.world import World, embedded_world

NOW = datetime.now(UTC).replace(microsecond=0)


def scored(type_: str, score: float | None) -> StoredEvent:
    return StoredEvent(type_, f"{type_}-1", "gate", "platform", None, None, NOW, 1, (),
                       score=score)


@pytest.fixture
def city(tmp_path: Path):
    world = embedded_world(tmp_path)
    world.add_node("alpha", "site-a")
    yield world
    world.close()


def test_the_score_reaches_the_alert_queue(city: World, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.add_many([scored("aggression", 0.7346), scored("weapon", 1.0),
                    scored("restricted_area", None)])
    assert [e.score for e in store.all()] == [0.7346, 1.0, None]
    node = city.nodes["alpha"]
    sender = EventSender(store, lambda body: accept(city.svc, body), node.node_id, "site-a",
                         load_identity(node.settings.keys_dir).signing)
    assert sender.send_pending() == 3
    response = city.client.get("/alerts", headers=city.as_("operator"))
    assert response.status_code == 200, response.text
    by_type = {a["type"]: a["score"] for a in response.json()["alerts"]}
    assert by_type == {"aggression": 0.735, "weapon": 1.0, "restricted_area": None}
    store.close()


def test_a_batch_signed_before_scores_existed_still_verifies() -> None:
    key = SigningKey.generate()
    old_event = {"seq": 1, "type": "running", "rule": "run", "camera": "gate", "zone": None,
                 "line": None, "direction": None, "time": "2026-01-01T00:00:00Z", "count": 1,
                 "tokens": []}
    old_batch = {"version": 1, "node_id": "alpha", "site": "site-a",
                 "sent_at": "2026-01-01T00:00:01Z", "events": [old_event]}
    signature = key.sign(EventBatch.DOMAIN + canonical_json(old_batch))
    signed = SignedEventBatch.model_validate(
        {"batch": old_batch, "signature": base64.b64encode(signature).decode()})
    assert signed.batch.events[0].score is None
    assert signed.batch.signed_by(key.public, signed.signature)
    # and a new node's unscored event is, byte for byte, what an old coordinator accepts
    assert signed.batch.model_dump(mode="json") == old_batch


def test_scores_are_thousandths_within_range() -> None:
    stored = StoredEvent("weapon", "w", "gate", None, None, None, NOW, 1, (), seq=1, score=0.4567)
    body = message([stored], "alpha", "site-a", SigningKey.generate())
    assert body["batch"]["events"][0]["score"] == 457
    with pytest.raises(ValidationError):
        AnalyticsEvent(seq=1, type="weapon", rule="w", camera="c", time=NOW, score=1001)
    with pytest.raises(ValidationError):
        AnalyticsEvent(seq=1, type="weapon", rule="w", camera="c", time=NOW, score=0.5)


def test_a_store_of_version_one_gains_an_empty_score(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(events.MIGRATIONS[0])
        db.execute("INSERT INTO events (type, rule, camera, time, count, tokens) VALUES "
                   "('running', 'run', 'gate', ?, 1, '[]')", (NOW.isoformat(),))
        db.execute("PRAGMA user_version = 1")
    store = EventStore(path)
    (event,) = store.all()
    assert (event.type, event.score) == ("running", None)
    store.close()
