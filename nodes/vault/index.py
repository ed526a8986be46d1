"""The vault's index: a local SQLite file of segments, keys and holds. Never plaintext video,
never a thumbnail; keys only wrapped. ``secure_delete`` overwrites what is deleted, so a destroyed
day key does not linger in free pages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nodes.local_db import open_store

# the schema, one script per version (nodes.local_db); version 1 is the first schema
MIGRATIONS = ("""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS day_keys (
    id TEXT PRIMARY KEY, camera TEXT NOT NULL, day TEXT NOT NULL,
    wrapped BLOB NOT NULL, created TEXT NOT NULL, UNIQUE (camera, day));
CREATE TABLE IF NOT EXISTS segments (
    id TEXT PRIMARY KEY, camera TEXT NOT NULL, start TEXT NOT NULL, end TEXT NOT NULL,
    day_key TEXT NOT NULL, wrapped_key BLOB NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS segments_by_time ON segments (camera, start);
CREATE TABLE IF NOT EXISTS holds (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL, cameras TEXT NOT NULL, start TEXT NOT NULL,
    end TEXT NOT NULL, reason TEXT NOT NULL, until TEXT NOT NULL, wrapped_case_key BLOB NOT NULL,
    created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS held_segments (
    hold TEXT NOT NULL, segment TEXT NOT NULL, wrapped_key BLOB NOT NULL,
    PRIMARY KEY (hold, segment));
""",)


def connect(path: Path) -> sqlite3.Connection:
    return open_store(path, MIGRATIONS, pragmas=("synchronous=FULL", "secure_delete=ON"))
