"""The node's small local SQLite stores (sightings, events, query ledger, privacy ledger): one way
to open them. Autocommit mode (each store issues BEGIN itself), WAL, a lock wait, the schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_store(path: Path, schema: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(schema)
    return connection
