"""The node's privacy budget ledger: every differentially private release (analytics answers,
federated training rounds) is recorded here first, and refused when it would exceed the node's
(epsilon, delta) budget. Persisted in SQLite; the check and the record are one transaction, so
concurrent releases cannot overspend."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nodes.local_db import open_store
from privacy.dp.accounting import Budget, check_spend

if TYPE_CHECKING:
    from nodes.config import NodeSettings

# the schema, one script per version (nodes.local_db); version 1 is the first schema
MIGRATIONS = ("""
CREATE TABLE IF NOT EXISTS spends (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    purpose TEXT NOT NULL,
    epsilon REAL NOT NULL,
    delta REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS training_rounds (
    run TEXT NOT NULL,
    round INTEGER NOT NULL,
    noise REAL NOT NULL,
    sample_rate REAL NOT NULL,
    steps INTEGER NOT NULL,
    PRIMARY KEY (run, round)
);
""",)
Step = tuple[float, float, int]  # noise multiplier, sample rate, steps of one training round


class PrivacyLedger:
    def __init__(self, path: Path, total: Budget, name: str):
        self._db = open_store(path, MIGRATIONS)
        self._lock = threading.Lock()
        self.total = total
        self.name = name

    def spent(self) -> Budget:
        with self._lock:
            return self._spent()

    def _spent(self) -> Budget:
        epsilon, delta = self._db.execute(
            "SELECT COALESCE(SUM(epsilon), 0), COALESCE(SUM(delta), 0) FROM spends").fetchone()
        return Budget(float(epsilon), float(delta))

    def check(self, epsilon: float, delta: float) -> Budget:
        """What would be spent after such a release, or BudgetExceeded; records nothing."""
        with self._lock:
            return check_spend(self.total, self._spent(), epsilon, delta, self.name)

    def left(self) -> Budget:
        spent = self.spent()
        return Budget(max(0.0, self.total.epsilon - spent.epsilon),
                      max(0.0, self.total.delta - spent.delta))

    def spend(self, epsilon: float, delta: float, purpose: str) -> Budget:
        """Record a release, or raise BudgetExceeded and record nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                after = check_spend(self.total, self._spent(), epsilon, delta, self.name)
                self._db.execute("INSERT INTO spends (at, purpose, epsilon, delta) "
                                 "VALUES (?, ?, ?, ?)",
                                 (datetime.now(UTC).isoformat(), purpose, epsilon, delta))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return after

    def training_rounds(self, run: str) -> list[Step]:
        """The DP-SGD rounds this node has run for ``run``, in order."""
        with self._lock:
            return [(float(n), float(q), int(k)) for n, q, k in self._db.execute(
                "SELECT noise, sample_rate, steps FROM training_rounds WHERE run = ? "
                "ORDER BY round", (run,))]

    def spend_round(self, run: str, round_number: int, step: Step, epsilon: float,
                    delta: float) -> Budget:
        """Record one training round and what it costs, or raise (BudgetExceeded, or
        ValueError for a round already run: training it again would spend again)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM training_rounds WHERE run = ? AND round = ?",
                                    (run, round_number)).fetchone():
                    raise ValueError(f"{self.name} has already trained round {round_number} "
                                     f"of {run}")
                after = check_spend(self.total, self._spent(), epsilon, delta, self.name)
                self._db.execute("INSERT INTO spends (at, purpose, epsilon, delta) "
                                 "VALUES (?, ?, ?, ?)",
                                 (datetime.now(UTC).isoformat(),
                                  f"training {run} round {round_number}", epsilon, delta))
                self._db.execute("INSERT INTO training_rounds VALUES (?, ?, ?, ?, ?)",
                                 (run, round_number, *step))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return after

    def close(self) -> None:
        self._db.close()


def site_ledger(settings: NodeSettings) -> PrivacyLedger:
    """The node's ledger under its configured budget (trainings and aggregates spend from it)."""
    return PrivacyLedger(settings.stores.privacy_ledger,
                         Budget(settings.privacy_epsilon, settings.privacy_delta),
                         f"site {settings.site_id}")
