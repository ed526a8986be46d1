"""Sending the node's analytics events, and their evidence, to the coordinator through the
broker.

The event store is the outbox: a batch is signed with the node's enrolled key, handed to the
broker, and only then marked sent. A broker that is away keeps events waiting here; a batch the
broker took twice (marked sent after a crash) is recognised by the coordinator by its numbers.
Evidence goes the same way, one signed picture a message, on the pictures' own queue and
sender, once its event has gone: the events' path neither waits for it nor carries it; so do
the clips a logged request asked for (queued, signed, by ``nodes.inbox.clips``)."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from celery import Celery

from contract.events import MAX_BATCH, AnalyticsEvent, EventBatch, SignedEventBatch
from contract.evidence import Evidence, EvidenceBox, SignedEvidence
from contract.evidence_clips import (
    MAX_FRAMES,
    ClipFrame,
    ClipRefusal,
    ClipRefused,
    SignedClipFrame,
    SignedClipRefusal,
)
from contract.tasks import EVENTS_QUEUE, EVENTS_TASK
from nodes.events import Clip, EventStore, StoredEvent, StoredEvidence
from privacy.signing import SigningKey

log = logging.getLogger(__name__)
Publish = Callable[[dict[str, Any]], None]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _thousandths(score: float | None) -> int | None:
    return None if score is None else min(1000, max(0, round(score * 1000)))


def message(events: list[StoredEvent], node_id: str, site: str, key: SigningKey
            ) -> dict[str, Any]:
    batch = EventBatch(node_id=node_id, site=site, sent_at=datetime.now(UTC), events=tuple(
        AnalyticsEvent(seq=e.seq, type=e.type, rule=e.rule, camera=e.camera, zone=e.zone,
                       line=e.line, direction=e.direction, time=_utc(e.time), count=e.count,
                       tokens=e.tokens, score=_thousandths(e.score)) for e in events))
    return SignedEventBatch(batch=batch, signature=batch.sign(key)).model_dump(mode="json")


def _box(box: tuple[int, int, int, int] | None) -> EvidenceBox | None:
    return EvidenceBox(left=box[0], top=box[1], right=box[2], bottom=box[3]) if box else None


def evidence_message(evidence: StoredEvidence, node_id: str, site: str, key: SigningKey
                     ) -> dict[str, Any]:
    """The evidence's metadata, the JPEG's SHA-256 among it, signed; the JPEG beside it."""
    signed = Evidence(node_id=node_id, site=site, camera=evidence.camera, seq=evidence.seq,
                      time=_utc(evidence.time), width=evidence.width, height=evidence.height,
                      box=_box(evidence.box),
                      jpeg_sha256=hashlib.sha256(evidence.jpeg).hexdigest(),
                      jpeg_bytes=len(evidence.jpeg))
    return SignedEvidence(evidence=signed, signature=signed.sign(key),
                          jpeg=base64.b64encode(evidence.jpeg).decode()).model_dump(mode="json")


def clip_messages(request_id: str, clip: Clip, node_id: str, site: str, key: SigningKey
                  ) -> list[dict[str, Any]]:
    """One message a picture, each signed as evidence is (metadata with the JPEG's SHA-256,
    the JPEG beside it), numbered 0..n-1 of n; a clip longer than the contract allows keeps
    the frames nearest the event's."""
    frames = clip.frames
    if len(frames) > MAX_FRAMES:
        at = next((i for i, f in enumerate(frames) if f.event_frame), 0)
        start = min(max(0, at - MAX_FRAMES // 2), len(frames) - MAX_FRAMES)
        frames = frames[start:start + MAX_FRAMES]
    messages = []
    for index, frame in enumerate(frames):
        signed = ClipFrame(request_id=request_id, node_id=node_id, site=site,
                           camera=clip.camera, seq=clip.seq, index=index, frames=len(frames),
                           video_frame=frame.index, time=_utc(frame.time),
                           event_frame=frame.event_frame, width=frame.width,
                           height=frame.height, box=_box(frame.box),
                           jpeg_sha256=hashlib.sha256(frame.jpeg).hexdigest(),
                           jpeg_bytes=len(frame.jpeg))
        messages.append(SignedClipFrame(frame=signed, signature=signed.sign(key),
                                        jpeg=base64.b64encode(frame.jpeg).decode()
                                        ).model_dump(mode="json"))
    return messages


def clip_refusal_message(request_id: str, seq: int, reason: ClipRefused, detail: str,
                         node_id: str, key: SigningKey) -> dict[str, Any]:
    refusal = ClipRefusal(request_id=request_id, node_id=node_id, seq=seq, reason=reason,
                          detail=detail[:500])
    return SignedClipRefusal(refusal=refusal, signature=refusal.sign(key)).model_dump(mode="json")


def celery_publisher(broker_url: str, task: str = EVENTS_TASK, queue: str = EVENTS_QUEUE,
                     expires: float | None = None) -> tuple[Publish, Callable[[], None]]:
    """Publish ``task`` messages to a coordinator queue (by default the events'); raises when
    the broker cannot take one."""
    app = Celery("safecity-node-events", broker=broker_url)
    app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                    broker_connection_timeout=5, task_publish_retry=True,
                    task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2,
                                               "interval_step": 0.5, "interval_max": 1})

    def publish(body: dict[str, Any]) -> None:
        app.send_task(task, args=[body], queue=queue, ignore_result=True, expires=expires)

    return publish, app.close


class _Outbox(ABC):
    """Sends what the event store holds unsent, a batch at a time, keeping it on failure."""

    what = "events"

    def __init__(self, store: EventStore, publish: Publish, node_id: str, site: str,
                 key: SigningKey, batch: int):
        self.store, self.publish = store, publish
        self.node_id, self.site, self.key = node_id, site, key
        self.batch = batch
        self.sent = 0

    @abstractmethod
    def send_pending(self) -> int:
        """Send one batch; how many went. Raises (and keeps them unsent) if the broker fails."""

    def run(self, stop: threading.Event, interval: float = 0.1, backoff: float = 2.0) -> None:
        """Send until ``stop`` is set, then flush what is left (if the broker takes it)."""
        while not stop.is_set():
            try:
                if self.send_pending() == self.batch:
                    continue
            except Exception as exc:  # the broker's many failure types: keep and retry
                log.warning("%s not sent, retrying in %.0f s: %s", self.what, backoff,
                            type(exc).__name__)
                stop.wait(backoff)
                continue
            stop.wait(interval)
        try:
            while self.send_pending():
                pass
        except Exception as exc:
            log.warning("%s left unsent for the next run: %s", self.what, type(exc).__name__)


class EventSender(_Outbox):
    def __init__(self, store: EventStore, publish: Publish, node_id: str, site: str,
                 key: SigningKey, batch: int = 200):
        super().__init__(store, publish, node_id, site, key, min(batch, MAX_BATCH))

    def send_pending(self) -> int:
        """Send one batch of unsent events; raise (and keep them unsent) if the broker fails."""
        events = self.store.unsent(self.batch)
        if not events:
            return 0
        self.publish(message(events, self.node_id, self.site, self.key))
        self.store.mark_sent([e.seq for e in events])
        self.sent += len(events)
        return len(events)


class EvidenceSender(_Outbox):
    """The evidence of events already sent, one message each (``batch`` a round)."""

    what = "evidence"

    def __init__(self, store: EventStore, publish: Publish, node_id: str, site: str,
                 key: SigningKey, batch: int = 8):
        super().__init__(store, publish, node_id, site, key, batch)

    def send_pending(self) -> int:
        pending = self.store.evidence(sent=False, limit=self.batch)
        for evidence in pending:
            self.publish(evidence_message(evidence, self.node_id, self.site, self.key))
            self.store.mark_evidence_sent([evidence.seq])
            self.sent += 1
        return len(pending)


class ClipSender(_Outbox):
    """Clip answers the inbox queued (``nodes.inbox.clips``: signed already), one message
    each, kept until the broker takes them, but never past their clip's ``keep``
    (``evidence_clip_hours``) counted from the oldest frame: one older is dropped unsent, as
    the retention purge would (a broker away for days leaves no pictures past their hours)."""

    what = "clip answers"

    def __init__(self, store: EventStore, publish: Publish, node_id: str, site: str,
                 key: SigningKey, batch: int = 8, *, keep: timedelta,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        super().__init__(store, publish, node_id, site, key, batch)
        self.keep, self.clock = keep, clock

    def send_pending(self) -> int:
        pending = self.store.clip_outbox(self.batch)
        cutoff = self.clock() - self.keep
        for number, oldest, body in pending:
            if oldest < cutoff:
                log.warning("clip answer %d dropped unsent: its frames are past %s", number,
                            self.keep)
            else:
                self.publish(body)
                self.sent += 1
            self.store.clip_sent(number)
        return len(pending)


class Runs(Protocol):
    def run(self, stop: threading.Event) -> None: ...


SenderT = TypeVar("SenderT", bound=Runs)


class BackgroundSender(Generic[SenderT]):
    """A sender (events, live views) on its own thread for the life of a node run."""

    def __init__(self, sender: SenderT, close: Callable[[], None] = lambda: None):
        self.sender, self._close = sender, close
        self._stop = threading.Event()
        self._thread = threading.Thread(target=sender.run, args=(self._stop,),
                                        name="sender", daemon=True)

    def __enter__(self) -> SenderT:
        self._thread.start()
        return self.sender

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._close()
