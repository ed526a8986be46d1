"""A device message on its way from the worker's MQTT listener to its ``device_message`` task,
sealed so that the task believes only what the listener queued (red team 3, December 2026).

The listener hears a device only after the MQTT broker's per-device ACL let it write its own
topic; the Celery broker between the listener and the task checks nobody (anyone on it may
queue any task). So the listener seals what it queues: an HMAC-SHA256 tag over the topic, the
payload, the moment the listener received it and a random id, under a key derived from the
coordinator's own secret keys (``coordinator.keys``: only coordinator processes hold it; it is
never logged or sent). The task opens the envelope and refuses it when the tag is wrong or
missing, when it was received more than ``MAX_AGE`` ago (or ahead of the clock), or when its id
was taken before by this process. A replay that reaches another worker process within the
window stores nothing either: a device alert is stored once per device and message time
(``coordinator.device_intake``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from coordinator.keys import CoordinatorKeys

# The listener and the task are a queue hop apart, but the hop can take long for a genuine press:
# a worker restarting, a broker outage, a backlog behind a burst of events. An SOS press must not
# be dropped for the coordinator's own lag, so a sealed message is believed for an hour after it
# was heard (its device time is checked against the moment it was heard, not the task's); a
# replay inside the hour is refused by this process's memory of ids, and stores nothing in any
# process (a device alert is stored once per device and message time).
MAX_AGE = timedelta(hours=1)
AHEAD = timedelta(seconds=5)  # clock steps between two processes of one host
LABEL = b"safecity coordinator device_message task v1"


class Unsealed(Exception):
    """A queued device message not believed; ``outcome`` is the counted reason (fixed words)."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def device_key(keys: CoordinatorKeys) -> bytes:
    """The key that seals queued device messages: derived from the coordinator's pseudonym key
    (HMAC with a label of its own, so neither use reveals the other)."""
    return hmac.new(keys.pseudonym_key, LABEL, hashlib.sha256).digest()


def _tag(key: bytes, topic: str, payload: str, received_ms: int, message_id: str) -> str:
    parts = [topic.encode(), payload.encode(), str(received_ms).encode(), message_id.encode()]
    signed = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    return hmac.new(key, signed, hashlib.sha256).hexdigest()


def seal(key: bytes, topic: str, payload: str, received: datetime) -> dict[str, Any]:
    """The task's argument for one message the listener heard at ``received``."""
    received_ms, message_id = int(received.timestamp() * 1000), secrets.token_hex(16)
    return {"topic": topic, "payload": payload, "received": received_ms, "id": message_id,
            "tag": _tag(key, topic, payload, received_ms, message_id)}


@dataclass(frozen=True)
class Opened:
    topic: str
    payload: str
    heard: datetime  # when the listener received it (authenticated by the tag)


class Seen:
    """The ids taken by this process in the last ``MAX_AGE`` (older ones are refused anyway)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()
        self._prune_at = 1000  # pruned when the memory doubles, not on every message

    def first(self, message_id: str, received_ms: int, now_ms: int) -> bool:
        """Whether the id was not taken before; remembers it."""
        horizon = now_ms - int(MAX_AGE.total_seconds() * 1000) - 1000
        with self._lock:
            if len(self._ids) > self._prune_at:
                self._ids = {i: t for i, t in self._ids.items() if t >= horizon}
                self._prune_at = max(1000, 2 * len(self._ids))
            if message_id in self._ids:
                return False
            self._ids[message_id] = received_ms
            return True


def open_sealed(key: bytes, args: tuple[Any, ...], kwargs: dict[str, Any], now: datetime,
                seen: Seen) -> Opened:
    """The topic and payload of a task's sealed argument; Unsealed saying which check failed."""
    if kwargs or len(args) != 1 or not isinstance(args[0], dict):
        raise Unsealed("device_message_unsealed")
    sealed = args[0]
    topic, payload = sealed.get("topic"), sealed.get("payload")
    received, message_id, tag = sealed.get("received"), sealed.get("id"), sealed.get("tag")
    if not (isinstance(topic, str) and isinstance(payload, str) and isinstance(tag, str)
            and isinstance(message_id, str) and len(message_id) == 32
            and isinstance(received, int) and not isinstance(received, bool)):
        raise Unsealed("device_message_unsealed")
    if not hmac.compare_digest(_tag(key, topic, payload, received, message_id), tag):
        raise Unsealed("device_message_unsealed")
    now_ms = int(now.timestamp() * 1000)
    if not (now_ms - MAX_AGE.total_seconds() * 1000 <= received
            <= now_ms + AHEAD.total_seconds() * 1000):
        raise Unsealed("device_message_stale")
    if not seen.first(message_id, received, now_ms):
        raise Unsealed("device_message_replayed")
    return Opened(topic, payload, datetime.fromtimestamp(received / 1000, UTC))
