"""The audit log's tables and database engines (SQLAlchemy Core; SQLite or PostgreSQL).

Writes take the database's write lock for the whole batch (SQLite ``BEGIN IMMEDIATE``, a
PostgreSQL transaction-scoped advisory lock), so several processes can append to one log and
still produce a single history. SQLite runs in WAL mode with ``synchronous=FULL``: a committed
batch survives a crash or power loss.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

entries = Table(
    "audit_entries", metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Index("audit_checkpoints_size", "size"),
)

cosignatures = Table(
    "audit_cosignatures", metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(255), primary_key=True),
    Column("line", Text, nullable=False),
)

# The DPO-only store. In production it lives in a schema the public API's role cannot read.
details = Table(
    "audit_details", metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(128), primary_key=True),
    Column("salt", LargeBinary(32), nullable=False),
    Column("value", LargeBinary, nullable=False),
)

_PG_LOCK = 0x5AFEC171  # advisory lock id serialising appends on PostgreSQL


def engines(url: str) -> tuple[Engine, Engine]:
    """``(writer, reader)`` engines for ``url``; the writer's transactions hold the write lock."""
    if url.startswith("sqlite"):
        writer = create_engine(url, connect_args={"timeout": 60})
        reader = create_engine(url, connect_args={"timeout": 60})
        for engine, immediate in ((writer, True), (reader, False)):
            _sqlite_setup(engine, immediate)
        return writer, reader
    engine = create_engine(url, pool_pre_ping=True)
    return engine, engine


def _sqlite_setup(engine: Engine, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def lock_for_append(connection: Connection) -> None:
    """Serialise appenders across processes (SQLite already holds its lock: BEGIN IMMEDIATE)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
