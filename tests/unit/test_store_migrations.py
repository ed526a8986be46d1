"""The node's local stores carry a schema version (``PRAGMA user_version``) and migrate at open:
a store written before versions existed is adopted with its rows, a newer one is refused, and
a migration is applied once, whole or not at all."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nodes import events, export_reports, privacy_ledger, query_ledger, sightings
from nodes.analytics import trajectories
from nodes.errors import StoreVersionError
from nodes.local_db import open_store, schema_version
from nodes.vault import index
from privacy.dp.accounting import Budget, BudgetPolicy

# each store: its migrations and how the node opens it
STORES: dict[str, tuple[tuple[str, ...], Callable[[Path], Any]]] = {
    "sightings": (sightings.MIGRATIONS, lambda p: sightings.SightingStore(p, b"k" * 32)),
    "events": (events.MIGRATIONS, events.EventStore),
    "query ledger": (query_ledger.MIGRATIONS, query_ledger.QueryLedger),
    "privacy ledger": (privacy_ledger.MIGRATIONS,
                       lambda p: privacy_ledger.PrivacyLedger(
                           p, BudgetPolicy(Budget(1.0, 1e-5), Budget(1.0, 1e-5)), "site-a")),
    "export reports": (export_reports.MIGRATIONS, export_reports.ExportOutbox),
    "trajectories": (trajectories.MIGRATIONS, lambda p: trajectories.TrajectoryStore(p, 7)),
    "vault index": (index.MIGRATIONS, index.connect),
}
VALUES = {"TEXT": "x", "INTEGER": 1, "REAL": 1.5, "BLOB": b"x"}


def old_store(path: Path, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """A store as the node made it before versions (its inline schema, user_version 0), one row
    in every table; every table's rows."""
    db = sqlite3.connect(path)
    db.executescript(schema)
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        columns = [(name, kind) for _, name, kind, *_ in db.execute(f"PRAGMA table_info({table})")]
        db.execute(f"INSERT INTO {table} ({', '.join(c for c, _ in columns)}) "
                   f"VALUES ({', '.join('?' for _ in columns)})",
                   [VALUES[kind] for _, kind in columns])
    db.commit()
    rows = dump(db)
    db.close()
    return rows


def dump(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_store_from_before_versions_is_adopted_with_its_rows(tmp_path: Path, store: str):
    migrations, opener = STORES[store]
    path = tmp_path / "store.sqlite"
    before = old_store(path, migrations[0])
    assert before and all(len(rows) == 1 for rows in before.values())
    opener(path).close()
    with sqlite3.connect(path) as db:
        assert schema_version(db) == len(migrations) >= 1
        after = dump(db)
    # every row kept as it was; later versions may add tables and columns (after the old ones)
    assert set(after) >= set(before)
    for table, rows in before.items():
        assert [row[:len(rows[0])] for row in after[table]] == rows


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_newer_store_is_refused(tmp_path: Path, store: str):
    migrations, opener = STORES[store]
    path = tmp_path / "store.sqlite"
    opener(path).close()
    with sqlite3.connect(path) as db:
        assert schema_version(db) == len(migrations)
        db.execute(f"PRAGMA user_version = {len(migrations) + 1}")
    with pytest.raises(StoreVersionError, match=rf"schema version {len(migrations) + 1} is "
                       rf"newer than this software's \({len(migrations)}\)"):
        opener(path)


def test_the_ledgers_read_what_the_old_store_held(tmp_path: Path):
    """Through the stores' own reads, not only row for row."""
    path = tmp_path / "ledger.sqlite"
    db = sqlite3.connect(path)
    db.executescript(query_ledger.MIGRATIONS[0])
    db.execute("INSERT INTO revocations VALUES ('w-1', '2026-01-02T00:00:00+00:00', 'closed', "
               "'judge')")
    db.execute("INSERT INTO uses VALUES ('w-2', 3)")
    db.commit()
    db.close()
    ledger = query_ledger.QueryLedger(path)
    try:
        assert ledger.revocation("w-1") == ("2026-01-02T00:00:00+00:00", "closed")
        assert ledger.uses("w-2") == 3
    finally:
        ledger.close()


def test_migrations_apply_in_order_once(tmp_path: Path):
    path = tmp_path / "s.sqlite"
    first = "CREATE TABLE IF NOT EXISTS things (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
    db = open_store(path, [first])
    db.execute("INSERT INTO things (name) VALUES ('kept')")
    db.close()
    later = [first, "ALTER TABLE things ADD COLUMN size INTEGER NOT NULL DEFAULT 0;",
             "CREATE INDEX things_by_size ON things (size);\nUPDATE things SET size = 2;"]
    for _ in range(2):  # the second open finds nothing to do (ALTER again would fail)
        db = open_store(path, later)
        assert schema_version(db) == 3
        assert db.execute("SELECT name, size FROM things").fetchall() == [("kept", 2)]
        db.close()


def test_a_failed_migration_changes_nothing(tmp_path: Path):
    path = tmp_path / "s.sqlite"
    first = "CREATE TABLE IF NOT EXISTS things (id INTEGER PRIMARY KEY);"
    open_store(path, [first]).close()
    broken = "CREATE TABLE other (id INTEGER);\nINSERT INTO missing VALUES (1);"
    with pytest.raises(sqlite3.OperationalError, match="no such table: missing"):
        open_store(path, [first, broken])
    with sqlite3.connect(path) as db:
        assert schema_version(db) == 1
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'other'").fetchall() == []
