"""A per-node flood limit on alert intake: a token bucket for each enrolled node (the classic
rate limiter, as in RFC 2697's single-rate meter: a bucket of ``node_event_burst`` tokens,
refilled at ``node_events_per_minute``; each new event takes one).

A compromised node could otherwise open an incident for every event it sends (distinct rule or
zone ids; 10,000 incidents in 125 s were measured, ``redteam/incident_flood.py``) and bury every
site's incidents. Events past the node's budget are refused: not stored, and never dropped
without a trace (each refusal is a warning in the worker's log and an ``access_denied`` audit
entry, ``events_refused``, with the node and the refused sequence numbers sealed; the worker
counts them for /metrics). Another node's events are unaffected: its bucket is its own.

The bucket lives in the database (``intake_buckets``), taken under a row lock in a short
transaction before the batch is stored, so that every worker process shares it; a resend of
events already stored costs nothing. The refusal is recorded before the rest is stored: a
worker stopped between the two leaves the refusal recorded and the batch redelivered (it is
taken again, and charged again: a redelivery is rare, and errs towards refusing)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from audit.records import Action, Event, LegalBasis
from coordinator.config import CoordinatorSettings
from coordinator.db import IntakeBucket
from coordinator.service import Coordinator, as_utc

log = logging.getLogger(__name__)
REFUSED = "events_refused"  # the audit entry's outcome


@dataclass(frozen=True)
class Refusal:
    node_id: str
    seqs: tuple[int, ...]  # the refused events' sequence numbers, ascending


def refilled(tokens: float, since: datetime, now: datetime, per_minute: int,
             burst: int) -> float:
    """The tokens in a bucket that held ``tokens`` at ``since``, at ``now`` (a clock that went
    back adds nothing)."""
    seconds = max(0.0, (as_utc(now) - as_utc(since)).total_seconds())
    return min(float(burst), tokens + seconds * per_minute / 60.0)


def take(session: Session, node_id: str, wanted: int, settings: CoordinatorSettings,
         now: datetime) -> int:
    """Take up to ``wanted`` tokens from the node's bucket (locked until the transaction ends;
    a new bucket starts full); how many were granted."""
    if wanted <= 0:
        return 0
    # inserted if missing, without failing when a concurrent first batch inserts it too
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(IntakeBucket).values(
        node_id=node_id, tokens=float(settings.node_event_burst), refilled_at=now)
        .on_conflict_do_nothing())
    bucket = session.get_one(IntakeBucket, node_id, with_for_update=True)
    tokens = refilled(bucket.tokens, bucket.refilled_at, now,
                      settings.node_events_per_minute, settings.node_event_burst)
    granted = min(wanted, int(tokens))
    bucket.tokens, bucket.refilled_at = tokens - granted, max(as_utc(now),
                                                              as_utc(bucket.refilled_at))
    return granted


def record(svc: Coordinator, refusal: Refusal) -> None:
    """Say that a node's events were refused: the worker's log (node and count) and the audit
    log (public: the outcome; sealed: the node and the refused sequence numbers)."""
    count, first, last = len(refusal.seqs), refusal.seqs[0], refusal.seqs[-1]
    log.warning("events_refused: %d events of %s over its rate of %d a minute (burst %d); "
                "seq %d to %d not stored", count, refusal.node_id,
                svc.settings.node_events_per_minute, svc.settings.node_event_burst, first, last)
    svc.log(Event(actor=svc.actor("coordinator", "system", "city"), action=Action.ACCESS_DENIED,
                  legal_basis=LegalBasis.NONE, outcome=REFUSED,
                  details={"node": refusal.node_id, "refused": str(count),
                           "seqs": ",".join(map(str, refusal.seqs))[:2000],
                           "reason": f"over {svc.settings.node_events_per_minute} events a "
                                     f"minute (burst {svc.settings.node_event_burst})"}))
