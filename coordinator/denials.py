"""Anonymous denials: counted, not logged one by one. Anyone can be denied, so one permanent
audit entry per anonymous denial would let anyone grow the public log that every citizen, node
and witness verifies forever. Denials of signed-in people stay individual entries: they are
accountable people.

Each denial adds one to its source's tally for the current interval (in the database, so every
API worker process shares it). A source past ``anonymous_denials_per_address`` in an interval
gets 429 (RFC 6585) with Retry-After. Once an interval is over, its tallies become one
``access_denied`` entry (outcome ``denials_counted``): the total is public, the counts per
source network (/24, IPv6 /48) are DPO-only details. The first denial after the interval, or
the housekeeping job, whichever comes first, writes it.

A flush claims its rows first (one UPDATE: two flushing processes cannot both take a row),
logs, then deletes them; a flush that dies between claim and delete leaves its claim to expire
after ``CLAIM_LEASE_SECONDS``, and the next flush logs those counts (the log may then count them
twice, but never loses them: logged first, as everywhere here).

An enrolled node's signed messages the worker refused (``coordinator.worker.refused``) are
tallied the same way under the node (``count_signed``): the node is accountable, so its entry
names it, but one entry per node per interval (outcome ``signed_refusals_counted``, the count
per refusal outcome), not one per message: a rogue node grew the permanent log one entry per
message (red team 3). The worker's log keeps each refusal's detail."""

from __future__ import annotations

import ipaddress
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from audit.records import (
    DENIALS_COUNTED,
    SIGNED_REFUSALS_COUNTED,
    Action,
    Actor,
    Event,
    LegalBasis,
)
from coordinator.db import DenialTally
from coordinator.service import Coordinator

ANONYMOUS = Actor(pseudonym="anonymous", role="none", agency="none")
CLAIM_LEASE_SECONDS = 300
OTHER = "other"  # a client address that is not an IP address (a Unix socket, a test client)
NODE = "node:"  # then an enrolled node's id: the source its signed refusals are tallied under
SIGNED_REFUSAL = "signed by the enrolled node and refused by a check of the coordinator"


def source_of(address: str) -> str:
    """What one caller is, for the rate limit: an IPv4 address, or an IPv6 /64 (one host's
    usual share, RFC 4291; counting IPv6 addresses one by one would let a host take 2^64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return OTHER
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 4:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def network_of(source: str) -> str:
    """The network a source is counted under in the log's details: IPv4 /24, IPv6 /48."""
    if source == OTHER:
        return OTHER
    prefix = 24 if ":" not in source else 48
    return str(ipaddress.ip_network(source, strict=False).supernet(new_prefix=prefix)
               if "/" in source else ipaddress.ip_network(f"{source}/{prefix}", strict=False))


def interval_of(svc: Coordinator, moment: datetime) -> int:
    """The start (Unix seconds) of the interval ``moment`` falls in."""
    seconds = svc.settings.denial_interval_seconds
    stamp = int(moment.timestamp())
    return stamp - stamp % seconds


def count(svc: Coordinator, address: str, outcome: str) -> int | None:
    """Count one anonymous denial; return the seconds to wait (for Retry-After) when its source
    is past the limit, else None. Writes any finished interval's entry first."""
    now = svc.clock()
    start, source = interval_of(svc, now), source_of(address)
    flush_due(svc)
    with svc.session() as session:
        session.execute(_add_one(session, start, source, outcome))
        total = session.scalar(select(func.sum(DenialTally.count)).where(
            DenialTally.interval_start == start, DenialTally.source == source))
    if int(total or 0) <= svc.settings.anonymous_denials_per_address:
        return None
    return max(1, start + svc.settings.denial_interval_seconds - int(now.timestamp()))


def count_signed(svc: Coordinator, node_id: str, outcome: str, number: int = 1) -> None:
    """Count ``number`` refusals of messages the enrolled node ``node_id`` signed: summed into
    one entry naming the node per interval. Writes any finished interval's entries first."""
    start = interval_of(svc, svc.clock())
    flush_due(svc)
    with svc.session() as session:
        session.execute(_add_one(session, start, NODE + node_id, outcome, number))


def _add_one(session: Session, start: int, source: str, outcome: str, number: int = 1) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE count + number, on the open row (PostgreSQL and
    SQLite)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DenialTally).values(
        interval_start=start, source=source, outcome=outcome, count=number, claim="")
    return statement.on_conflict_do_update(
        index_elements=["interval_start", "source", "outcome"],
        index_where=text("claim = ''"),  # a literal: PostgreSQL infers the partial index

        set_={"count": DenialTally.count + number})


def _due(svc: Coordinator, now: datetime) -> Any:
    """Rows of finished intervals that no live flush holds."""
    stamp = int(now.timestamp())
    return and_(DenialTally.interval_start < interval_of(svc, now),
                or_(DenialTally.claim == "",
                    DenialTally.claimed_at < stamp - CLAIM_LEASE_SECONDS))


def flush_due(svc: Coordinator) -> list[int]:
    """Write the entry of every finished interval that has tallies; return their indices."""
    now = svc.clock()
    with svc.session() as session:
        if session.scalar(select(DenialTally.id).where(_due(svc, now)).limit(1)) is None:
            return []
    token = str(uuid.uuid4())
    with svc.session() as session:
        session.execute(update(DenialTally).where(_due(svc, now))
                        .values(claim=token, claimed_at=int(now.timestamp()))
                        .execution_options(synchronize_session=False))
    with svc.session() as session:
        rows = session.execute(select(DenialTally.interval_start, DenialTally.source,
                                      DenialTally.outcome, DenialTally.count)
                               .where(DenialTally.claim == token)).all()
    by_interval: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    for start, source, outcome, number in rows:
        by_interval[int(start)].append((source, outcome, int(number)))
    written = []
    for start, tallies in sorted(by_interval.items()):
        anonymous = [t for t in tallies if not t[0].startswith(NODE)]
        if anonymous:
            written.append(svc.log(_entry(svc, start, anonymous)))
        nodes: dict[str, dict[str, int]] = defaultdict(dict)
        for source, outcome, number in tallies:
            if source.startswith(NODE):
                nodes[source.removeprefix(NODE)][outcome] = number
        for node_id, by in sorted(nodes.items()):
            written.append(svc.log(_signed_entry(svc, start, node_id, by)))
        with svc.session() as session:
            session.execute(delete(DenialTally).where(DenialTally.claim == token,
                                                      DenialTally.interval_start == start))
    return written


def _entry(svc: Coordinator, start: int, tallies: list[tuple[str, str, int]]) -> Event:
    networks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for source, outcome, number in tallies:
        networks[network_of(source)][outcome] += number
    seconds = svc.settings.denial_interval_seconds
    return Event(actor=ANONYMOUS, action=Action.ACCESS_DENIED, legal_basis=LegalBasis.NONE,
                 outcome=DENIALS_COUNTED, counts_returned=sum(n for _, _, n in tallies),
                 details={"interval_start": datetime.fromtimestamp(start, UTC).isoformat(),
                          "interval_seconds": str(seconds),
                          "networks": {net: dict(sorted(by.items()))
                                       for net, by in sorted(networks.items())}})


def _signed_entry(svc: Coordinator, start: int, node_id: str, by: dict[str, int]) -> Event:
    return Event(actor=svc.actor("coordinator", "system", "city"), action=Action.ACCESS_DENIED,
                 legal_basis=LegalBasis.NONE, outcome=SIGNED_REFUSALS_COUNTED,
                 counts_returned=sum(by.values()),
                 details={"node": node_id, "reason": SIGNED_REFUSAL,
                          "interval_start": datetime.fromtimestamp(start, UTC).isoformat(),
                          "interval_seconds": str(svc.settings.denial_interval_seconds),
                          "refused": dict(sorted(by.items()))})


def pending(svc: Coordinator) -> dict[tuple[str, str], int]:
    """The denials counted and not yet logged, by source and outcome (operator, tests)."""
    with svc.session() as session:
        rows = session.execute(select(DenialTally.source, DenialTally.outcome,
                                      func.sum(DenialTally.count))
                               .group_by(DenialTally.source, DenialTally.outcome)).all()
    return {(source, outcome): int(total) for source, outcome, total in rows}
