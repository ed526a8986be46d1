"""The coordinator's tables (SQLAlchemy ORM) and its database: SQLite by default, PostgreSQL in
production. The schema is created and upgraded only by the Alembic migrations beside this file.

Warrants keep salted commitments and queries a count; the plates themselves travel sealed to each
node and live in the DPO-only audit details. A draft alone holds its plain targets (and face
reference images) for the people asked to sign it, and forgets them once registered or declined.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, written as UTC. SQLite has no time type: SQLAlchemy writes a datetime's
    wall-clock digits as text and drops its offset, so 10:00+02:00 was stored, compared and read
    back as 10:00 UTC (two hours late), and a comparison of two moments given in different
    offsets went by their digits. Every moment bound (written, or compared against in a query)
    is turned to UTC first; a naive one is taken as UTC, as everything stored is
    (``coordinator.service.as_utc``). PostgreSQL's timestamptz stores the instant either way."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    agency: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    signing_key: Mapped[str | None] = mapped_column(String(64))  # judges and DPOs: ed25519:...
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class LoginTries(Base):
    """Password tries of one account or one client address in the current window, counted
    before each is checked (``coordinator.lockout``)."""

    __tablename__ = "login_tries"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # account | client
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tries: Mapped[int]
    window_started: Mapped[int] = mapped_column(index=True)  # unix seconds


class SpentTokenId(Base):
    """A token id (``jti``) not to be accepted again before ``expires_at`` (unix seconds): a
    person's token after sign-out, a node's assertion once redeemed (``coordinator.token_ids``)."""

    __tablename__ = "spent_token_ids"

    issuer: Mapped[str] = mapped_column(String(140), primary_key=True)
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[int] = mapped_column(index=True)


class Node(Base):
    __tablename__ = "nodes"

    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    cameras: Mapped[list[str]]
    identity_key: Mapped[str] = mapped_column(String(64), unique=True)
    sealing_key: Mapped[str] = mapped_column(String(64))
    # the site's Flower SuperNode key (OpenSSH ECDSA P-384), registered with the SuperLink
    flower_key: Mapped[str | None] = mapped_column(String(512))
    # each camera's public notice as the node stated it at enrolment (contract.notices)
    camera_notices: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # where each camera stands and looks, as enrolled (contract.camera_placement): the map
    camera_placements: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    enrolled_by: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(default=True)
    # the largest witnessed audit-log size the node reported holding (queries prove from it)
    witnessed_size: Mapped[int | None] = mapped_column(BigInteger)


class WallLayout(Base):
    """The video wall an operator arranged and saved (``coordinator.wall_layouts``): the grid's
    size and the camera in each tile."""

    __tablename__ = "wall_layouts"

    username: Mapped[str] = mapped_column(String(64), ForeignKey("users.username"),
                                          primary_key=True)
    layout: Mapped[dict[str, Any]]
    saved_at: Mapped[datetime]


class LiveViewLook(Base):
    """An operator's current look at one camera's live view (``coordinator.live_views``): when
    it was opened (and logged as a ``consultation``) and when the operator last fetched it."""

    __tablename__ = "live_view_looks"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    opened_at: Mapped[datetime]
    last_at: Mapped[datetime]


class Warrant(Base):
    """A warrant or consent: the signed document and where it stands."""

    __tablename__ = "warrants"

    warrant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    basis: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    # draft, registered, declined (by a signer, with a reason), revoked, expired
    status: Mapped[str] = mapped_column(String(16), index=True)
    document: Mapped[dict[str, Any]]  # SignedWarrant JSON
    # while a draft: {"targets": [...], "references": {target: base64 image}} for its signers
    for_signers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    case_number: Mapped[str] = mapped_column(String(128))
    justification: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    uses: Mapped[int] = mapped_column(default=0)
    registered_index: Mapped[int | None]
    created_at: Mapped[datetime]


class Query(Base):
    __tablename__ = "queries"

    query_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    warrant_id: Mapped[str] = mapped_column(ForeignKey("warrants.warrant_id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(64), index=True)
    purpose_code: Mapped[str] = mapped_column(String(128))
    cameras: Mapped[list[str]]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    target_count: Mapped[int]
    dispatched_index: Mapped[int]
    created_at: Mapped[datetime]
    deadline: Mapped[datetime]
    # Every node refused it (nothing was searched): the warrant's use was given back, once.
    use_returned: Mapped[bool] = mapped_column(default=False)


class QueryNode(Base):
    """One node's part of a query: its Celery task and, once it answers, its signed result."""

    __tablename__ = "query_nodes"

    query_id: Mapped[str] = mapped_column(ForeignKey("queries.query_id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.node_id"), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None]
    answered_at: Mapped[datetime | None]
    disclosed: Mapped[bool] = mapped_column(default=False)


class EvidenceExport(Base):
    """An evidence export a node reported: recorded once in the audit log by its id, however
    often the report arrives."""

    __tablename__ = "evidence_exports"

    export_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.node_id"))
    warrant_id: Mapped[str] = mapped_column(ForeignKey("warrants.warrant_id"), index=True)
    log_index: Mapped[int | None]  # None until the audit entry is appended
    received_at: Mapped[datetime]


class ExportUses(Base):
    """How many evidence exports a node reported under a warrant: at most the warrant's
    ``max_uses``, as the node's own ledger allows it (an export is one use there, per node).
    The row is locked while a report is counted, so two workers never both take the last use."""

    __tablename__ = "export_uses"

    warrant_id: Mapped[str] = mapped_column(ForeignKey("warrants.warrant_id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.node_id"), primary_key=True)
    uses: Mapped[int]


class Confirmation(Base):
    """One person's decision on one face match; a match counts after two different people
    confirm it and nobody rejects it (EU AI Act Art. 14(5))."""

    __tablename__ = "match_confirmations"

    query_id: Mapped[str] = mapped_column(ForeignKey("queries.query_id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sighting_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    decision: Mapped[str] = mapped_column(String(16))  # match | no_match
    at: Mapped[datetime]


class Alert(Base):
    """One analytics event from a node, or an SOS press or sensor threshold crossing from one
    of the city's devices (``coordinator.device_intake``: ``node_id`` null, ``device_id`` and
    the device's position set; ``seq`` its time in milliseconds, so a message the broker
    delivers twice is stored once), as the control room handles it. Line crossings are kept as
    ``logged`` (counts, nothing to handle); everything else starts ``open``."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("node_id", "seq"),
                      UniqueConstraint("device_id", "seq", name="uq_alerts_device_id_seq"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str | None] = mapped_column(ForeignKey("nodes.node_id"))
    device_id: Mapped[str | None] = mapped_column(String(64))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    site_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)  # a device's: milliseconds since 1970
    type: Mapped[str] = mapped_column(String(32), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str | None] = mapped_column(String(64))
    line: Mapped[str | None] = mapped_column(String(64))
    direction: Mapped[str | None] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(index=True)
    count: Mapped[int]
    tokens: Mapped[list[str]]
    score: Mapped[int | None]  # scored rules (weapon, aggression): thousandths, as sent
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), index=True)
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    # where an open alert stands in the live feed, numbered in commit order
    # (``coordinator.incident_revisions``); null: stored before there was one, or logged
    revision: Mapped[int | None] = mapped_column(BigInteger, unique=True, index=True)
    # a sensor's crossing: the reading that crossed, its unit and the threshold it crossed
    # (the time is ``time``: the reading's own)
    reading: Mapped[float | None]
    unit: Mapped[str | None] = mapped_column(String(16))
    threshold: Mapped[float | None]


class Incident(Base):
    """Alerts that belong together (same node, site, camera, rule, type and zone or line, each
    within the incident window of the one before), handled as one: new, acknowledged, assigned,
    closed with a note (``coordinator.incident_grouping``).

    ``current`` is true on the one incident of its key that new alerts join, and null on every
    other: the unique constraint lets two intake workers not both open one for the same key
    (the second's insert fails and its batch is taken again)."""

    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("node_id", "site_id", "camera", "rule", "type", "place",
                                       "current", name="uq_incidents_current"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(String(128))
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    camera: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(64))  # the zone or line; "" for neither
    type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), index=True)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime] = mapped_column(index=True)
    alert_count: Mapped[int]
    owner: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None]
    current: Mapped[bool | None]
    # the number of its latest change and of its first (``coordinator.incident_revisions``);
    # null only inside the transaction that inserts it, until it is numbered before commit
    revision: Mapped[int | None] = mapped_column(BigInteger, unique=True, index=True)
    opened_revision: Mapped[int | None] = mapped_column(BigInteger)
    # a device's incident: where the device stands (a camera's is on its node's enrolment)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]


class IncidentRevision(Base):
    """The last revision number handed out to an incident change (one row, id 1)."""

    __tablename__ = "incident_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(BigInteger)


class IntakeBucket(Base):
    """A node's token bucket for alert intake (``coordinator.intake_limit``): the events it may
    still send now, as of ``refilled_at``."""

    __tablename__ = "intake_buckets"

    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.node_id"), primary_key=True)
    tokens: Mapped[float]
    refilled_at: Mapped[datetime]


class IntakeDecision(Base):
    """What the flood limit decided for one new event of a node (``coordinator.intake_limit``):
    admitted (charged a token) or refused, so that the same event redelivered is neither
    charged nor refused, audited and counted again."""

    __tablename__ = "intake_decisions"

    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.node_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    refused: Mapped[bool]
    audited: Mapped[bool] = mapped_column(default=False)  # a refusal's audit entry claimed
    decided_at: Mapped[datetime] = mapped_column(index=True)


class AlertEvidence(Base):
    """The evidence a node sent of one alert (``coordinator.evidence``): a redacted JPEG with
    the triggering object's box drawn, and the node's signed metadata, its SHA-256 among it, as
    signed (kept to be checked again). Deleted with its alert."""

    __tablename__ = "alert_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), unique=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)  # Evidence JSON
    signature: Mapped[str] = mapped_column(String(200))
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]


class EvidenceClipRequest(Base):
    """An operator's request for the clip of one alert (``coordinator.clip_requests``), logged
    before it is stored: its state (``requested``, ``sent``, ``received``, ``refused`` with the
    node's reason, ``failed`` when it could not be sent) and, once frames come, how many the
    clip has. Deleted with its alert."""

    __tablename__ = "evidence_clip_requests"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(128))
    site_id: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    requested_by: Mapped[str] = mapped_column(String(64))
    logged_index: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    frames: Mapped[int | None] = mapped_column(Integer)  # as the first frame says
    reason: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(500))
    requested_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertEvidenceClip(Base):
    """One frame of an alert's clip as its node signed it (``coordinator.evidence_clips``): the
    redacted, downscaled JPEG and the signed metadata (``ClipFrame`` JSON). A frame sent twice
    is kept once. Deleted with its alert."""

    __tablename__ = "alert_evidence_clips"
    __table_args__ = (UniqueConstraint("request_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("evidence_clip_requests.request_id"))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    signature: Mapped[str] = mapped_column(String(200))
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]


class EvidenceClipLook(Base):
    """An operator's first look at a clip, logged then (``consultation``); later fetches of its
    frames are the same look."""

    __tablename__ = "evidence_clip_looks"

    request_id: Mapped[str] = mapped_column(ForeignKey("evidence_clip_requests.request_id"),
                                            primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime]


class Webhook(Base):
    """An outbound webhook (signage, IoT): alerts of the listed types are POSTed to ``url``,
    signed with the shared secret (Standard Webhooks)."""

    __tablename__ = "webhooks"

    webhook_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    types: Mapped[list[str]]  # empty: every alert type
    secret: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(default=True)


class Delivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "alert_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.webhook_id"), index=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    # planned, tried or queued again: a pending one untouched too long had its task lost
    # (``coordinator.delivery_sweep``)
    touched_at: Mapped[datetime | None] = mapped_column(index=True)
    # held by the attempt in flight (``coordinator.delivery_claims``): no second one sends
    leased_until: Mapped[datetime | None]
    # the next attempt not before (a failed attempt's backoff): a task early does nothing
    due_at: Mapped[datetime | None]


class MqttDelivery(Base):
    """One alert to be published to one MQTT broker (``coordinator.mqtt``): planned at intake
    with the alert, marked delivered once the broker acknowledged it (PUBACK)."""

    __tablename__ = "mqtt_deliveries"
    __table_args__ = (UniqueConstraint("target", "alert_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(64))  # the configured broker ("mqtt")
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | delivered
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    # planned, tried or queued again: a pending one untouched too long had its task lost
    # (``coordinator.delivery_sweep``)
    touched_at: Mapped[datetime | None] = mapped_column(index=True)
    # held by the attempt in flight (``coordinator.delivery_claims``): no second one sends
    leased_until: Mapped[datetime | None]
    # the next attempt not before (a failed attempt's backoff): a task early does nothing
    due_at: Mapped[datetime | None]


class MqttConnection(Base):
    """A ``coordinator worker``'s connection to the MQTT broker as it last reported it
    (``coordinator.mqtt_status``), for the control room's status line: written when it changes
    and every ``mqtt.report_seconds``, removed when the worker stops cleanly. A report older than
    three intervals is a worker that stopped without saying so: not believed."""

    __tablename__ = "mqtt_connections"

    worker: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid
    broker: Mapped[str] = mapped_column(String(300))  # host:port, nothing more
    # it also listens to the city's devices (SOS buttons, sensors, lamps), not only publishes
    listening: Mapped[bool]
    # connecting | connected | unreachable | credentials | password_file
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime]  # when it entered this state
    reported_at: Mapped[datetime] = mapped_column(index=True)  # the latest report (heartbeat)


class Aggregate(Base):
    """A planner's aggregate question (counts per zone per hour, dwell times) at a stated
    (epsilon, delta), answered by each node with noisy counts only."""

    __tablename__ = "aggregates"

    query_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(64), index=True)
    epsilon: Mapped[float]
    delta: Mapped[float]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    dispatched_index: Mapped[int]
    created_at: Mapped[datetime]
    deadline: Mapped[datetime]


class AggregateNode(Base):
    __tablename__ = "aggregate_nodes"
    # a node's answers newest first: its newest budget report (``coordinator.budget_reports``)
    __table_args__ = (Index("ix_aggregate_nodes_node_answered", "node_id", "answered_at"),)

    query_id: Mapped[str] = mapped_column(ForeignKey("aggregates.query_id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.node_id"), primary_key=True)
    cameras: Mapped[list[str]]
    task_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None]
    answered_at: Mapped[datetime | None]


class PublishedReport(Base):
    """The public transparency report as the housekeeping job last computed it (one row), so
    that the portal, open to anyone, never verifies the whole log for a request."""

    __tablename__ = "published_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int]
    body: Mapped[dict[str, Any]]


class JobRun(Base):
    """When a periodic job (the housekeeping job) last started (one row a job): the worker
    runs it at most once per its interval however often its message is queued (anyone who can
    write to the broker can queue it; red team 3)."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime]


class DenialTally(Base):
    """Anonymous denials from one source (an IPv4 address, an IPv6 /64), or an enrolled node's
    signed messages refused (source ``node:`` and its id), in one interval,
    counted until the interval's one aggregated audit entry is written (``coordinator.
    denials``). ``claim`` names the flush writing it; '' while the row still counts."""

    __tablename__ = "denial_tallies"
    __table_args__ = (Index("uq_denial_tallies_open", "interval_start", "source", "outcome",
                            unique=True, sqlite_where=text("claim = ''"),
                            postgresql_where=text("claim = ''")),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interval_start: Mapped[int] = mapped_column(BigInteger, index=True)
    source: Mapped[str] = mapped_column(String(140))
    outcome: Mapped[str] = mapped_column(String(32))
    count: Mapped[int]
    claim: Mapped[str] = mapped_column(String(36), default="")
    claimed_at: Mapped[int | None] = mapped_column(BigInteger)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class PinUpdateRow(Base):
    """The city's pinned judge, DPO and witness keys, one row per change (contract/pins.py).

    Sequence 0 is the set the first node pinned at enrolment; each later row is a proposed
    change, then the signatures collected for it, then (logged, sent) the set it leads to.
    """

    __tablename__ = "pin_updates"

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))  # genesis | proposed | dispatched
    update: Mapped[dict[str, Any] | None]  # PinUpdate JSON (none for the genesis)
    signatures: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # PinSignature JSON
    pinned: Mapped[dict[str, Any]]  # the set after this change, by role
    pinned_sha256: Mapped[str] = mapped_column(String(64))
    proposed_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    logged_index: Mapped[int | None]


class PinAckRow(Base):
    """What a node said it holds after an update (or, for its enrolment, was handed)."""

    __tablename__ = "pin_acks"

    sequence: Mapped[int] = mapped_column(ForeignKey("pin_updates.sequence"), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.node_id"), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # enrolled | pending | applied | refused
    node_sequence: Mapped[int | None]  # the node's pins as it acknowledged them
    pinned_sha256: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
