"""The node's own record of what it has done under each warrant: uses, answers, revocations.

It is what makes a node refuse a warrant used up, revoked or replayed, whatever the coordinator
claims, and what makes a redelivered message (a broker that restarted before the acknowledgement)
get the same answer again instead of a second search.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from contract.warrants import Refusal, WarrantRefused
from nodes.local_db import open_store

# the schema, one script per version (nodes.local_db); version 1 is the first schema
MIGRATIONS = ("""
CREATE TABLE IF NOT EXISTS uses (warrant_id TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    query_id TEXT PRIMARY KEY,
    request_sha256 TEXT NOT NULL,
    warrant_id TEXT NOT NULL,
    answer TEXT
);
CREATE TABLE IF NOT EXISTS revocations (
    warrant_id TEXT PRIMARY KEY, revoked_at TEXT NOT NULL, reason TEXT NOT NULL,
    key_id TEXT NOT NULL
);
""",)


class Start(Enum):
    NEW = "new"  # a first delivery: one use counted
    RESUME = "resume"  # counted before, but no answer was stored (the node stopped mid-search)
    ANSWERED = "answered"  # the stored answer is sent again


@dataclass(frozen=True)
class Started:
    state: Start
    answer: str | None = None


class QueryLedger:
    def __init__(self, path: Path):
        self._db = open_store(path, MIGRATIONS)
        self._lock = threading.Lock()

    def revocation(self, warrant_id: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._db.execute("SELECT revoked_at, reason FROM revocations WHERE warrant_id=?",
                                   (warrant_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def revoke(self, warrant_id: str, revoked_at: datetime, reason: str, key_id: str) -> bool:
        """Record a revocation; False if it was already recorded."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO revocations VALUES (?, ?, ?, ?)",
                (warrant_id, revoked_at.isoformat(), reason, key_id))
        return cursor.rowcount == 1

    def uses(self, warrant_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT count FROM uses WHERE warrant_id=?",
                                   (warrant_id,)).fetchone()
        return int(row[0]) if row else 0

    def previous(self, query_id: str, request_sha256: str) -> Started | None:
        """What happened to this query before, refusing a different message under its id."""
        with self._lock:
            return self._known(query_id, request_sha256)

    def _known(self, query_id: str, request_sha256: str) -> Started | None:
        row = self._db.execute("SELECT request_sha256, answer FROM answers WHERE query_id=?",
                               (query_id,)).fetchone()
        if row is None:
            return None
        if row[0] != request_sha256:
            raise WarrantRefused(Refusal.REPLAYED,
                                 f"query {query_id} was already received with other contents")
        return Started(Start.ANSWERED, row[1]) if row[1] is not None else Started(Start.RESUME)

    def start(self, query_id: str, request_sha256: str, warrant_id: str, max_uses: int
              ) -> Started:
        """Count one use of the warrant for this query, atomically, unless it was counted."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                known = self._known(query_id, request_sha256)
                if known is not None:
                    self._db.execute("ROLLBACK")
                    return known
                used = self._db.execute("SELECT count FROM uses WHERE warrant_id=?",
                                        (warrant_id,)).fetchone()
                count = int(used[0]) if used else 0
                if count >= max_uses:
                    raise WarrantRefused(Refusal.USED_UP,
                                         f"all {max_uses} uses of {warrant_id} are spent")
                self._db.execute("INSERT INTO uses VALUES (?, 1) ON CONFLICT(warrant_id) "
                                 "DO UPDATE SET count = count + 1", (warrant_id,))
                self._db.execute("INSERT INTO answers VALUES (?, ?, ?, NULL)",
                                 (query_id, request_sha256, warrant_id))
                self._db.execute("COMMIT")
            except (sqlite3.Error, WarrantRefused):
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return Started(Start.NEW)

    def record_answer(self, query_id: str, request_sha256: str, warrant_id: str,
                      answer: str, refused: bool = False) -> None:
        """Store the answer; a refusal after the use was counted (nothing searched) returns
        the use, in the same transaction, so a refusal never spends one."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                stored = self._db.execute(
                    "INSERT INTO answers VALUES (?, ?, ?, ?) ON CONFLICT(query_id) "
                    "DO UPDATE SET answer = excluded.answer WHERE answers.answer IS NULL "
                    "AND answers.request_sha256 = excluded.request_sha256",
                    (query_id, request_sha256, warrant_id, answer))
                if refused and stored.rowcount == 1:
                    self._db.execute("UPDATE uses SET count = count - 1 "
                                     "WHERE warrant_id=? AND count > 0", (warrant_id,))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._db.close()
