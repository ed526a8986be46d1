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
events already stored costs nothing. Each new event's decision (admitted or refused) is kept
with its charge, in the same transaction (``intake_decisions``), where the worker also claims
the audit of the refusals not yet audited: the same batch redelivered (a worker stopped before
the batch was stored or acknowledged, the audit log unreachable, two workers handed it at
once) is charged nothing more, the events it was granted are stored, its refused events stay
refused, and the refusal is audited and counted once. The audit entry is written after the
commit (on SQLite the audit log shares the one writer); an entry that cannot be written gives
its claim back, and the batch's redelivery writes it. A worker killed between the commit and
the entry leaves that refusal unaudited (its warning line is in the log only if it got that
far). Decisions are deleted with the alerts' retention."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from audit.records import Action, Event, LegalBasis
from coordinator.config import CoordinatorSettings
from coordinator.db import IntakeBucket, IntakeDecision
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


def lock(session: Session, node_id: str, settings: CoordinatorSettings,
         now: datetime) -> IntakeBucket:
    """The node's bucket, locked until the transaction ends (a new bucket starts full): what
    a batch of the node reads and decides after this, no other batch decides meanwhile."""
    # inserted if missing, without failing when a concurrent first batch inserts it too
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(IntakeBucket).values(
        node_id=node_id, tokens=float(settings.node_event_burst), refilled_at=now)
        .on_conflict_do_nothing())
    return session.get_one(IntakeBucket, node_id, with_for_update=True)


def take(bucket: IntakeBucket, wanted: int, settings: CoordinatorSettings,
         now: datetime) -> int:
    """Take up to ``wanted`` tokens from a locked bucket; how many were granted."""
    if wanted <= 0:
        return 0
    tokens = refilled(bucket.tokens, bucket.refilled_at, now,
                      settings.node_events_per_minute, settings.node_event_burst)
    granted = min(wanted, int(tokens))
    bucket.tokens, bucket.refilled_at = tokens - granted, max(as_utc(now),
                                                              as_utc(bucket.refilled_at))
    return granted


def decided(session: Session, node_id: str, seqs: Sequence[int]) -> dict[int, IntakeDecision]:
    """The decisions made before on these events of the node, by sequence number."""
    return {d.seq: d for d in session.scalars(select(IntakeDecision).where(
        IntakeDecision.node_id == node_id, IntakeDecision.seq.in_(seqs)))}


def decide(session: Session, node_id: str, admitted: Sequence[int], refused: Sequence[int],
           now: datetime) -> None:
    """Keep the decisions on new events, with their charge (the caller's transaction)."""
    session.add_all([IntakeDecision(node_id=node_id, seq=seq, refused=no, audited=False,
                                    decided_at=now)
                     for seqs, no in ((admitted, False), (refused, True)) for seq in seqs])


def unaudited(session: Session, node_id: str, seqs: Sequence[int]) -> tuple[int, ...]:
    """Claim the audit of these events' refusals not audited yet (under the bucket's lock, so
    that two workers with the same batch do not both take them): their sequence numbers."""
    mine = tuple(session.scalars(select(IntakeDecision.seq).where(
        IntakeDecision.node_id == node_id, IntakeDecision.seq.in_(seqs),
        IntakeDecision.refused, ~IntakeDecision.audited).order_by(IntakeDecision.seq)))
    session.execute(update(IntakeDecision).where(
        IntakeDecision.node_id == node_id, IntakeDecision.seq.in_(mine))
        .values(audited=True).execution_options(synchronize_session=False))
    return mine


def unclaim(svc: Coordinator, refusal: Refusal) -> None:
    """Give back the audit of a refusal that could not be written (the audit log away)."""
    with svc.session() as session:
        session.execute(update(IntakeDecision).where(
            IntakeDecision.node_id == refusal.node_id, IntakeDecision.seq.in_(refusal.seqs))
            .values(audited=False).execution_options(synchronize_session=False))


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
