"""The node's inbox: every message the coordinator sends it, one module per kind.

- ``queries``: watchlist queries (plate sightings; ``face_search`` for faces), ``answers`` signs
  and seals what they send back;
- ``aggregates``: planners' aggregate questions, answered with differential privacy;
- ``revocations``: warrant revocations;
- ``pin_updates``: changes of the keys pinned at enrolment;
- ``models``: models the federation trained;
- ``clips``: requests for a short redacted clip of one of the node's events.

``state`` holds what they read (settings, keys, pins, ledger, sightings, log); ``worker`` is the
Celery app that delivers the messages, one at a time, acknowledged only after the answer is
stored.
"""

from __future__ import annotations

from audit.keys import load_log_key
from audit.log import AuditLog
from kernel.errors import ConfigError
from nodes.config import NodeSettings
from nodes.enrolment import Enrolment, load_enrolment
from nodes.identity import NodeIdentity, load_identity
from nodes.inbox.aggregates import AggregateInbox
from nodes.inbox.budget_policy import log_policy_change
from nodes.inbox.clips import ClipInbox
from nodes.inbox.models import ModelInbox
from nodes.inbox.pin_updates import PinUpdateInbox
from nodes.inbox.queries import QueryInbox
from nodes.inbox.revocations import RevocationInbox
from nodes.inbox.state import Clock, InboxState, now


class Inbox(InboxState):
    """One per worker process: the node's state, and a handler per message kind that reads it."""

    def __init__(self, settings: NodeSettings, enrolment: Enrolment, identity: NodeIdentity,
                 audit: AuditLog, clock: Clock = now):
        super().__init__(settings, enrolment, identity, audit, clock)
        log_policy_change(self)  # before any handler may spend under a changed budget
        self.queries = QueryInbox(self)
        self.revocations = RevocationInbox(self)
        self.pin_updates = PinUpdateInbox(self)
        self.models = ModelInbox(self)
        self._aggregates: AggregateInbox | None = None
        self._clips: ClipInbox | None = None

    @classmethod
    def open(cls, settings: NodeSettings, clock: Clock = now) -> Inbox:
        enrolment = load_enrolment(settings.data_dir)
        if not settings.node_key_file.exists():
            raise ConfigError(f"{settings.node_key_file}: no node log key; run "
                              "`safecity vault init` first")
        audit = AuditLog(settings.audit_url, load_log_key(settings.node_key_file))
        return cls(settings, enrolment, load_identity(settings.keys_dir), audit, clock)

    @property
    def aggregates(self) -> AggregateInbox:
        """Opened at the first question: only then are the event store and budget needed."""
        if self._aggregates is None:
            self._aggregates = AggregateInbox(self)
        return self._aggregates

    @property
    def clips(self) -> ClipInbox:
        """Opened at the first request, like the aggregates: the event store holds the clips."""
        if self._clips is None:
            self._clips = ClipInbox(self)
        return self._clips

    def close(self) -> None:
        self.queries.close()
        if self._aggregates is not None:
            self._aggregates.close()
        if self._clips is not None:
            self._clips.close()
        super().close()
