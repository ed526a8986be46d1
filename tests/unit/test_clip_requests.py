"""A node sends a clip of one of its events only for a request the city's witnessed log holds.

Requests are built here as a coordinator that skips its own checks would (it holds the dispatch
key and signs what it likes) and handed to the node's inbox, the code its Celery worker runs.
Each refusal of a coordinator-signed request names its reason, is signed by the node and is an
entry in the node's own audit log; a message not signed by the coordinator is refused as the
task's result only (never signed or sent, summed up in the log now and then); the one request
that passes every check gets its frames, signed, queued in the event store for the node's clip
sender, and only once however often (or however simultaneously) it is delivered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from kombu import Connection

from audit.checkpoint import Checkpoint
from audit.note import parse_note
from audit.prove import make_receipt
from audit.records import (
    Action,
    Actor,
    Event,
    LegalBasis,
    PublicRecord,
    Scope,
    Window,
    opens,
    rfc3339,
)
from contract.clip_request_log import logged_fields
from contract.evidence_clips import (
    ClipFrame,
    ClipRefusal,
    ClipRefused,
    ClipRequest,
    SignedClipFrame,
    SignedClipRefusal,
    SignedClipRequest,
)
from contract.tasks import CLIP_REQUEST_TASK, CLIP_TASK, LIVE_QUEUE
from coordinator.node_log_heads import consistency_for
from kernel.canonical import canonical_json
from nodes.event_sender import ClipSender
from nodes.events import Clip, EventStore, StoredEvent
from nodes.events import ClipFrame as StoredFrame
from nodes.evidence import snapshot
from nodes.identity import load_identity
from nodes.inbox import Inbox
from nodes.inbox.clips import REFUSED, SENT, UNAUTHENTICATED
from nodes.inbox.unauthenticated import Tally
from nodes.inbox.worker import HANDLERS
from nodes.node import outboxes
from privacy.signing import SigningKey, VerifyKey
from tests.support.world import T0, World, embedded_world

OPERATOR = "op-7"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A city with node alpha; its event store holds event 1 of "gate" with a clip of three
    frames, event 2 without a clip and event 3 whose clip is past its 72 hours."""
    w = embedded_world(tmp_path_factory.mktemp("clip-world"))
    w.set_time(T0)
    w.add_node("alpha", "site-a")
    store = EventStore(w.nodes["alpha"].settings.stores.events)
    try:
        seqs = store.add_many([event(T0 - timedelta(minutes=5)), event(T0 - timedelta(hours=1)),
                               event(T0 - timedelta(hours=73))])
        assert seqs == [1, 2, 3]
        store.add_clip(clip(1, T0 - timedelta(minutes=5)))
        store.add_clip(clip(3, T0 - timedelta(hours=73)))
    finally:
        store.close()
    yield w
    w.close()


def event(time: datetime) -> StoredEvent:
    return StoredEvent("restricted_area", "keep-out", "gate", "all", None, None, time, 1, ())


def clip(seq: int, time: datetime) -> Clip:
    frames = []
    for offset in (-1, 0, 1):
        image = np.full((180, 320, 3), 60 + 40 * offset, np.uint8)
        box = (40, 40, 120, 160) if offset == 0 else None
        shot = snapshot(image, box, 320, 20_000)
        frames.append(StoredFrame(100 + offset * 5, time + timedelta(seconds=offset / 2),
                                  shot.jpeg, shot.width, shot.height, shot.box,
                                  event_frame=offset == 0))
    return Clip(seq, "gate", tuple(frames))


def logged(world: World, *, request_id: str, seq: int = 1, camera: str = "gate",
           node_id: str | None = None, requester: str = OPERATOR,
           outcome: str = "evidence_clip_requested", public: dict[str, Any] | None = None
           ) -> int:
    """The coordinator's audit entry of a clip request, as it writes it
    (``contract.clip_request_log.logged_fields``: the stored event's time, or now for an event
    the node does not have), at the world's time; ``public`` replaces its public fields. Its
    index."""
    node_id = node_id or world.nodes["alpha"].node_id
    details: dict[str, Any] = {"request_id": request_id, "node_id": node_id, "camera": camera,
                               "seq": seq, "requester": requester, "incident": 12}
    store = EventStore(world.nodes["alpha"].settings.stores.events)
    try:
        stored = store.event(seq)
    finally:
        store.close()
    fields = {**logged_fields(request_id, node_id, "site-a", camera,
                              stored.time if stored else world.clock()),
              "outcome": outcome, "time": rfc3339(world.clock()),
              "actor": Actor(pseudonym=requester, role="operator", agency="city"),
              **(public or {})}
    return world.svc.audit.append(Event(legal_basis=LegalBasis.STATUTE, details=details,
                                        **fields)).index


def request(world: World, index: int, *, request_id: str, seq: int = 1, camera: str = "gate",
            node_id: str | None = None, issued_at: datetime | None = None,
            key: SigningKey | None = None, signature: str | None = None,
            openings: dict[str, str] | None = None) -> dict[str, Any]:
    svc = world.svc
    witnessed = svc.witnessing.witnessed()
    held = world.service("alpha").log_head.held()
    size = Checkpoint.from_text(parse_note(witnessed).text).size
    names = ("request_id", "node_id", "camera", "seq", "requester")
    opened = openings if openings is not None else {
        n: base64.b64encode(svc.audit.opening(index, n)).decode() for n in names}
    asked = ClipRequest(
        request_id=request_id, node_id=node_id or world.nodes["alpha"].node_id, site="site-a",
        camera=camera, seq=seq,
        requester=OPERATOR, issued_at=issued_at or world.clock(),
        receipt=make_receipt(svc.audit, index, witnessed).to_json(),
        log_consistency=consistency_for(svc, held.size if held else 0, size),
        openings=opened)
    return SignedClipRequest(request=asked,
                             signature=signature or asked.sign(key or svc.keys.dispatch)
                             ).model_dump(mode="json")


def node_key(world: World) -> VerifyKey:
    return load_identity(world.nodes["alpha"].settings.keys_dir).signing.public


def drain(world: World) -> list[dict[str, Any]]:
    """What the node's clip sender publishes now."""
    published: list[dict[str, Any]] = []
    store = EventStore(world.nodes["alpha"].settings.stores.events)
    try:
        sender = ClipSender(store, published.append, "alpha", "site-a", SigningKey.generate(),
                            keep=timedelta(hours=72), clock=world.clock)
        while sender.send_pending():
            pass
    finally:
        store.close()
    return published


def node_log(world: World) -> list[PublicRecord]:
    audit = world.service("alpha").audit
    return [PublicRecord.from_leaf(e.data) for e in audit.entries(0, 100_000)]


def refused(world: World, message: dict[str, Any], reason: ClipRefused, words: str) -> None:
    """The node refuses ``message`` for ``reason``: a signed refusal published, an entry in
    its own log."""
    before = len(node_log(world))
    answer = world.service("alpha").clips.answer(message)
    assert answer["outcome"] == reason.value, answer
    [body] = drain(world)
    signed = SignedClipRefusal.model_validate(body)
    refusal: ClipRefusal = signed.refusal
    assert refusal.signed_by(node_key(world), signed.signature)
    assert refusal.reason is reason and words in refusal.detail, refusal.detail
    assert refusal.request_id == message["request"]["request_id"]
    [entry] = node_log(world)[before:]
    assert entry.action is Action.ACCESS_DENIED and entry.outcome == REFUSED


def test_the_logged_request_gets_its_frames_signed_and_only_once(world: World) -> None:
    head = world.service("alpha").log_head
    with head.locked():  # the node accepted an earlier witnessed checkpoint (a query's)
        head.advance(Checkpoint.from_text(parse_note(world.svc.witnessing.witnessed()).text))
    held = head.held()
    request_id = str(uuid.uuid4())
    message = request(world, logged(world, request_id=request_id), request_id=request_id)
    assert held is not None and message["request"]["log_consistency"]["held_size"] == held.size
    before = len(node_log(world))
    answer = world.service("alpha").clips.answer(message)
    assert answer == {"request_id": request_id, "outcome": SENT, "frames": 3, "again": False}
    bodies = drain(world)
    assert len(bodies) == 3
    stored = clip(1, T0 - timedelta(minutes=5)).frames
    for position, body in enumerate(bodies):
        signed = SignedClipFrame.model_validate(body)
        frame: ClipFrame = signed.frame
        assert frame.signed_by(node_key(world), signed.signature)
        jpeg = base64.b64decode(signed.jpeg)
        assert hashlib.sha256(jpeg).hexdigest() == frame.jpeg_sha256
        assert len(jpeg) == frame.jpeg_bytes and jpeg[:3] == b"\xff\xd8\xff"
        assert (frame.request_id, frame.node_id, frame.camera, frame.seq) == (
            request_id, world.nodes["alpha"].node_id, "gate", 1)
        assert (frame.index, frame.frames) == (position, 3)
        assert frame.video_frame == stored[position].index
        assert frame.time == stored[position].time
        assert frame.event_frame is (position == 1)
        assert (frame.box is not None) is (position == 1)
    assert SignedClipFrame.model_validate(bodies[1]).frame.box.left == 40  # type: ignore[union-attr]
    [entry] = node_log(world)[before:]
    assert entry.action is Action.DISCLOSURE and entry.outcome == SENT
    assert entry.counts_returned == 3 and entry.recipients == ("coordinator",)
    assert entry.scope.cameras == ("gate",)
    # checked against the head it holds, not advanced: the coordinator learns the node's head
    # from query answers only, and its next query proves consistency from there
    assert head.held() == held
    # delivered again (a broker that lost the acknowledgement): nothing is sent twice
    again = world.service("alpha").clips.answer(message)
    assert again["again"] is True and drain(world) == []
    assert len(node_log(world)) == before + 1


def test_a_broker_that_is_away_loses_no_frame(world: World) -> None:
    request_id = str(uuid.uuid4())
    message = request(world, logged(world, request_id=request_id), request_id=request_id)
    world.service("alpha").clips.answer(message)
    store = EventStore(world.nodes["alpha"].settings.stores.events)
    try:
        def away(body: dict[str, Any]) -> None:
            raise ConnectionError("broker away")

        with pytest.raises(ConnectionError):
            ClipSender(store, away, "alpha", "site-a", SigningKey.generate(),
                       keep=timedelta(hours=72)).send_pending()
    finally:
        store.close()
    assert len(drain(world)) == 3  # kept, then sent when the broker is back


def unauthenticated(world: World, messages: list[Any], words: str) -> None:
    """Each of ``messages`` is refused as the task's result only: nothing signed, queued or
    published, and at most one entry in the node's log summing them up."""
    before = len(node_log(world))
    for message in messages:
        answer = world.service("alpha").clips.answer(message)
        assert answer["outcome"] == ClipRefused.BAD_REQUEST.value, answer
    assert drain(world) == []
    entries = node_log(world)[before:]
    assert len(entries) <= 1
    for entry in entries:
        assert entry.action is Action.ACCESS_DENIED and entry.outcome == UNAUTHENTICATED


def test_unsigned_or_wrongly_signed_requests_are_refused_and_not_remembered(
        world: World) -> None:
    request_id = str(uuid.uuid4())
    index = logged(world, request_id=request_id)
    unsigned = request(world, index, request_id=request_id,
                       signature=base64.b64encode(b"\0" * 64).decode())
    forged = request(world, index, request_id=request_id, key=SigningKey.generate())
    unauthenticated(world, [unsigned, forged] * 10, "not signed by the coordinator key")
    # none used up the request id: the coordinator's own request is still answered
    answer = world.service("alpha").clips.answer(request(world, index, request_id=request_id))
    assert answer["outcome"] == SENT and len(drain(world)) == 3


def test_a_malformed_request_is_refused(world: World) -> None:
    request_id = str(uuid.uuid4())
    message = request(world, logged(world, request_id=request_id), request_id=request_id)
    message["request"]["seq"] = 1
    message["request"]["camera"] = "no spaces allowed"
    unauthenticated(world, [message, {"request": {"request_id": request_id, "seq": 1}}, None],
                    "not a clip request")


def test_unauthenticated_refusals_are_summed_up_in_the_log_at_most_every_ten_minutes(
        world: World) -> None:
    clips = world.service("alpha").clips
    clips.unauthenticated = Tally()  # as a worker just started
    before = len(node_log(world))
    junk = {"request": {"request_id": str(uuid.uuid4()), "seq": 1}}
    for _ in range(5):
        clips.answer(junk)
    world.set_time(T0 + timedelta(minutes=11))
    try:
        clips.answer(junk)
    finally:
        world.set_time(T0)
    first, second = node_log(world)[before:]
    assert first.outcome == second.outcome == UNAUTHENTICATED
    audit = world.service("alpha").audit
    for index, record, count in ((before, first, 1), (before + 1, second, 5)):
        assert opens(record, "messages", audit.opening(index, "messages"),
                     canonical_json(count))


def test_a_request_for_another_node_is_refused(world: World) -> None:
    request_id = str(uuid.uuid4())
    index = logged(world, request_id=request_id, node_id="beta")
    refused(world, request(world, index, request_id=request_id, node_id="beta"),
            ClipRefused.NOT_THIS_NODE, "not to this node")


def test_a_stale_request_is_refused_as_a_replay(world: World) -> None:
    request_id = str(uuid.uuid4())
    index = logged(world, request_id=request_id)
    refused(world, request(world, index, request_id=request_id,
                           issued_at=T0 - timedelta(hours=1)),
            ClipRefused.BAD_REQUEST, "longer ago than")


def test_a_request_the_log_does_not_hold_is_refused(world: World) -> None:
    request_id = str(uuid.uuid4())
    other = logged(world, request_id=request_id, outcome="recordings_looked_at")
    refused(world, request(world, other, request_id=request_id), ClipRefused.NOT_LOGGED,
            "not a logged clip request")
    request_id = str(uuid.uuid4())
    message = request(world, logged(world, request_id=request_id), request_id=request_id)
    message["request"]["receipt"] = {"format": "nonsense"}
    message["signature"] = ClipRequest.model_validate(message["request"]).sign(
        world.svc.keys.dispatch)
    refused(world, message, ClipRefused.NOT_LOGGED, "no valid audit-log receipt")


@pytest.mark.parametrize("logged_as, asked, name", [
    ({"seq": 2}, {}, "seq"),
    ({"camera": "lobby"}, {}, "camera"),
    ({"requester": "op-8"}, {}, "requester"),
    ({}, {"openings": {}}, "request_id"),
])
def test_an_entry_that_names_another_request_is_refused(
        world: World, logged_as: dict[str, Any], asked: dict[str, Any], name: str) -> None:
    request_id = str(uuid.uuid4())
    index = logged(world, request_id=request_id, **logged_as)
    refused(world, request(world, index, request_id=request_id, **asked),
            ClipRefused.NOT_LOGGED, f"does not commit to this request's {name}")


def test_a_forked_log_is_refused(world: World) -> None:
    request_id = str(uuid.uuid4())
    index = logged(world, request_id=request_id)
    message = request(world, index, request_id=request_id)
    head = world.service("alpha").log_head
    kept = head.path.read_text() if head.path.exists() else None
    size = world.svc.audit.size()
    head.path.write_text(json.dumps({head.origin: {
        "size": size, "root": base64.b64encode(b"\1" * 32).decode()}}))
    try:
        refused(world, message, ClipRefused.NOT_LOGGED, "a fork")
    finally:
        if kept is None:
            head.path.unlink()
        else:
            head.path.write_text(kept)


@pytest.mark.parametrize("seq, camera, reason, words", [
    (99, "gate", ClipRefused.UNKNOWN_EVENT, "no event 99 of camera gate"),
    (1, "lobby", ClipRefused.UNKNOWN_EVENT, "no event 1 of camera lobby"),
    (2, "gate", ClipRefused.NO_CLIP, "no clip kept"),
    (3, "gate", ClipRefused.NO_CLIP, "no clip kept"),  # cut 73 hours ago: past its 72
])
def test_an_unknown_event_or_a_clip_not_kept_is_refused(
        world: World, seq: int, camera: str, reason: ClipRefused, words: str) -> None:
    request_id = str(uuid.uuid4())
    index = logged(world, request_id=request_id, seq=seq, camera=camera)
    refused(world, request(world, index, request_id=request_id, seq=seq, camera=camera),
            reason, words)


def test_a_request_without_a_proof_from_the_head_the_node_holds_is_refused(
        world: World) -> None:
    head = world.service("alpha").log_head
    with head.locked():
        head.advance(Checkpoint.from_text(parse_note(world.svc.witnessing.witnessed()).text))
    request_id = str(uuid.uuid4())
    message = request(world, logged(world, request_id=request_id), request_id=request_id)
    message["request"]["log_consistency"] = None
    message["signature"] = ClipRequest.model_validate(message["request"]).sign(
        world.svc.keys.dispatch)
    refused(world, message, ClipRefused.NOT_LOGGED, "needs a consistency proof")


def test_the_worker_hands_clip_requests_to_the_clip_inbox(world: World) -> None:
    inbox = world.service("alpha")
    assert HANDLERS[CLIP_REQUEST_TASK](inbox) is inbox.clips


def test_node_run_publishes_the_answers_as_clip_tasks_on_the_pictures_queue(
        world: World) -> None:
    settings = world.nodes["alpha"].settings
    request_id = str(uuid.uuid4())
    world.service("alpha").clips.answer(
        request(world, logged(world, request_id=request_id), request_id=request_id))
    store = EventStore(settings.stores.events)
    try:
        with outboxes(settings, store):  # what `node run` starts; it flushes as it stops
            pass
        assert store.clip_outbox(10) == []
    finally:
        store.close()
    assert settings.broker_url is not None
    with Connection(settings.broker_url) as connection:
        queue = connection.SimpleQueue(LIVE_QUEUE)
        messages = [queue.get(timeout=10) for _ in range(3)]
        for message in messages:
            message.ack()
        queue.close()
    assert {m.headers["task"] for m in messages} == {CLIP_TASK}
    frames = [SignedClipFrame.model_validate(m.payload[0][0]).frame for m in messages]
    assert sorted(f.index for f in frames) == [0, 1, 2]
    assert {f.request_id for f in frames} == {request_id}


def test_the_node_worker_takes_clip_requests_from_its_queue(world: World) -> None:
    node = world.nodes["alpha"]
    request_id = str(uuid.uuid4())
    # the worker process checks freshness on the real clock, and this module's world may have
    # been made long before (T0 is the test session's start): log and sign at the real time
    world.set_time(datetime.now(UTC).replace(microsecond=0))
    try:
        message = request(world, logged(world, request_id=request_id), request_id=request_id)
    finally:
        world.set_time(T0)
    world.start_worker("alpha")
    try:
        world.svc.dispatcher.send(CLIP_REQUEST_TASK, message, node.node_id, f"clip-{request_id}")
        deadline = time.monotonic() + 120
        while (answer := world.svc.dispatcher.answer(f"clip-{request_id}")) is None:
            assert time.monotonic() < deadline, world.worker_log("alpha")
            time.sleep(0.2)
    finally:
        world.stop_worker("alpha")
    assert answer == {"request_id": request_id, "outcome": SENT, "frames": 3, "again": False}
    assert len(drain(world)) == 3


def _window(start: datetime, end: datetime) -> Scope:
    return Scope(sites=("site-a",), cameras=("gate",),
                 window=Window(start=rfc3339(start), end=rfc3339(end)))


@pytest.mark.parametrize("seq, public, words", [
    (1, {"event_id": "another-entry"}, "public event_id"),
    (1, {"recipients": ("beta",)}, "public recipients"),
    (1, {"purpose_code": "investigation"}, "public purpose_code"),
    (1, {"scope": Scope(sites=("site-z",), cameras=("gate",))}, "public scope"),
    (1, {"scope": Scope(sites=("site-a",), cameras=("lobby",))}, "public scope"),
    (1, {"actor": Actor(pseudonym="dpo-annual-review", role="dpo", agency="city")},
     "public actor"),
    (1, {"scope": _window(T0 - timedelta(minutes=30), T0 - timedelta(minutes=20))},
     "window does not hold the event"),
    # logged before the event existed: an event number guessed ahead
    (1, {"time": rfc3339(T0 - timedelta(minutes=6))}, "not between the event"),
    (1, {"time": rfc3339(T0 + timedelta(minutes=5))}, "not between the event"),
    # logged after the event, but longer ago than a request may be old (30 min and the skew)
    (2, {"time": rfc3339(T0 - timedelta(minutes=33))}, "longer ago than"),
])
def test_an_entry_whose_public_part_is_not_this_request_is_refused(
        world: World, seq: int, public: dict[str, Any], words: str) -> None:
    """The sealed details open to this request, but the public part, which is all the public
    sees, names someone or somewhere else, or was logged before the event or long ago."""
    request_id = str(uuid.uuid4())
    index = logged(world, request_id=request_id, seq=seq, public=public)
    refused(world, request(world, index, request_id=request_id, seq=seq),
            ClipRefused.NOT_LOGGED, words)


def test_a_request_refused_as_stale_only_is_answered_when_sent_again(world: World) -> None:
    """Delivered late (here: signed 31 minutes ago, its entry still recent enough), refused;
    its id is not used up, so the coordinator's re-send, freshly signed, gets the frames."""
    request_id = str(uuid.uuid4())
    index = logged(world, request_id=request_id)
    refused(world, request(world, index, request_id=request_id,
                           issued_at=T0 - timedelta(minutes=31)),
            ClipRefused.BAD_REQUEST, "longer ago than")
    answer = world.service("alpha").clips.answer(request(world, index, request_id=request_id))
    assert answer["outcome"] == SENT and len(drain(world)) == 3


def test_an_old_request_replayed_onto_a_later_event_is_refused(world: World) -> None:
    """Answered 40 days ago; re-signed today for the same event number, its entry is too old,
    whatever event holds that number now."""
    request_id = str(uuid.uuid4())
    index = logged(world, request_id=request_id,
                   public={"time": rfc3339(T0 - timedelta(days=40))})
    refused(world, request(world, index, request_id=request_id), ClipRefused.NOT_LOGGED,
            "not between the event")


def test_twin_deliveries_log_one_disclosure(world: World) -> None:
    """Two workers take the same request at the same moment: the id is claimed before the
    disclosure is logged, so one of them sends and logs, the other finds it answered."""
    settings = world.nodes["alpha"].settings
    request_id = str(uuid.uuid4())
    message = request(world, logged(world, request_id=request_id), request_id=request_id)
    before = len(node_log(world))
    workers = [Inbox.open(settings, clock=world.clock) for _ in range(2)]
    answers: list[dict[str, Any]] = []
    go = threading.Barrier(2)

    def deliver(inbox: Inbox) -> None:
        go.wait()
        answers.append(inbox.clips.answer(message))

    try:
        for worker in workers:
            _ = worker.clips  # opened before the race, as a running worker has it
        threads = [threading.Thread(target=deliver, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for worker in workers:
            worker.close()
    assert sorted(a["again"] for a in answers) == [False, True]
    assert [e.outcome for e in node_log(world)[before:]] == [SENT]
    assert len(drain(world)) == 3
