"""The node's small local SQLite stores (and the vault's index): one way to open them, their
schema versions, and one way to delete rows past retention (``expire``).

A store is opened in autocommit mode (each store issues BEGIN itself), with WAL and a lock wait.
Its schema is an ordered list of migrations, each an SQL script; ``PRAGMA user_version`` holds
how many were applied, and the ones after it are applied at open, each in its own transaction
with the version it reaches. A store written before versions existed (version 0, its tables
made by the first migration's ``CREATE TABLE IF NOT EXISTS``) is adopted as version 1 with its
rows; a store of a newer version than this software knows is refused, never guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from nodes.errors import StoreVersionError


def open_store(path: Path, migrations: Sequence[str], pragmas: Sequence[str] = ()
               ) -> sqlite3.Connection:
    """Open (creating it if need be) the store at ``path`` and bring its schema up to
    ``len(migrations)``; ``pragmas`` are set on the connection first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        for pragma in pragmas:
            connection.execute(f"PRAGMA {pragma}")
        migrate(connection, migrations, str(path))
    except BaseException:
        connection.close()
        raise
    return connection


def schema_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection, migrations: Sequence[str], name: str) -> None:
    """Apply the migrations after the store's version, one transaction each."""
    while _pending(connection, len(migrations), name):
        # read again under the write lock: another process of the node may have migrated the
        # store since this one looked
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(connection)
            if _pending(connection, len(migrations), name):
                for statement in statements(migrations[version]):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def _pending(connection: sqlite3.Connection, latest: int, name: str) -> bool:
    version = schema_version(connection)
    if version > latest:
        raise StoreVersionError(f"{name}: schema version {version} is newer than this "
                                f"software's ({latest}); run the safecity version that wrote "
                                "it, or a later one")
    return version < latest


def expire(connection: sqlite3.Connection, tables: Mapping[str, str],
           cutoff: Callable[[str], object],
           announce: Callable[[dict[str, dict[str, int]]], None]) -> dict[str, int]:
    """Delete the rows older than their camera's cut-off from ``tables`` (table -> its time
    column, each with a ``camera`` column; ``cutoff(camera)`` in that column's encoding).

    One write transaction: ``announce`` is given the rows to delete, per table and camera, before
    any is deleted (it writes the audit entry; if it fails nothing is deleted). How many rows
    each table lost is returned. The WAL is truncated after, so with ``secure_delete`` on the
    deleted rows are left neither in free pages nor in old WAL frames."""
    doomed: dict[str, dict[str, int]] = {}
    connection.execute("BEGIN IMMEDIATE")
    try:
        for table, column in tables.items():
            cameras = [c for (c,) in connection.execute(f"SELECT DISTINCT camera FROM {table}")]
            for camera in cameras:
                (count,) = connection.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE camera = ? AND {column} < ?",
                    (camera, cutoff(camera))).fetchone()
                if count:
                    doomed.setdefault(table, {})[camera] = int(count)
        if doomed:
            announce(doomed)
            for table, counts in doomed.items():
                for camera in counts:
                    connection.execute(f"DELETE FROM {table} WHERE camera = ? AND "
                                       f"{tables[table]} < ?", (camera, cutoff(camera)))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    if doomed:
        # waits (the lock timeout) for readers of an older snapshot; one that outlasts it leaves
        # the checkpoint partial, and the old frames are overwritten as the WAL restarts
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {table: sum(doomed.get(table, {}).values()) for table in tables}


def statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, whole (a trigger's body included)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:80]}")
