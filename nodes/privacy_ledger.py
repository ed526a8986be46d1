"""The node's privacy budget ledger: every differentially private release (analytics answers,
federated training rounds) is recorded here first, and refused when it would exceed the
current accounting period's budget or the node's lifetime cap (``BudgetPolicy``). Persisted in
SQLite; the check and the record are one transaction, so concurrent releases cannot overspend.

Periods are calendar months in the configured time zone, read from the node's own clock (never
from a message): a coordinator cannot move a release into another period by the date it
writes. The clock is also never believed to run backwards past a recorded release: a release is
accounted in the period of the later of the clock and the newest release recorded, so a node
whose clock is set back cannot spend an old period's budget again (a clock set forward opens
the next period early, once; the lifetime cap bounds the node whatever its clock says)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from kernel.canonical import canonical_json
from nodes.local_db import open_store
from privacy.dp.accounting import Budget, BudgetPolicy, BudgetState
from privacy.dp.periods import month_of, zone

if TYPE_CHECKING:
    from nodes.config import NodeSettings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
""", """
-- version 2: accounting periods. Each release's instant on the node's clock as integer
-- microseconds since the Unix epoch (UTC), indexed, so that a period's spending is an exact
-- range sum; releases recorded before periods existed are dated from their text, which
-- version 1 wrote as datetime.isoformat() in UTC (seconds, then ".ffffff" unless zero), to the
-- microsecond (SQLite's own date functions keep milliseconds only).
ALTER TABLE spends ADD COLUMN at_us INTEGER;
UPDATE spends SET at_us = CAST(strftime('%s', substr(at, 1, 19)) AS INTEGER) * 1000000
    + CASE WHEN substr(at, 20, 1) = '.' THEN CAST(substr(at, 21, 6) AS INTEGER) ELSE 0 END;
CREATE INDEX spends_at_us ON spends (at_us);
""", """
-- version 3: the budget policy ([privacy_budget]) the node last ran under, one row of
-- canonical JSON, so that a node started under another policy logs the change once.
CREATE TABLE policy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    terms TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
""")
Terms = dict[str, str]  # a budget policy as the audit log states it (decimal text)
Step = tuple[float, float, int]  # noise multiplier, sample rate, steps of one training round
Clock = Callable[[], datetime]


def policy_terms(policy: BudgetPolicy) -> Terms:
    """The policy as text, each amount as configured (the log takes no floats)."""
    return {"period_epsilon": repr(policy.period.epsilon),
            "period_delta": repr(policy.period.delta),
            "lifetime_epsilon": repr(policy.lifetime.epsilon),
            "lifetime_delta": repr(policy.lifetime.delta), "time_zone": policy.time_zone}


def _micros(instant: datetime) -> int:
    return (instant.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)


def _instant(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _now() -> datetime:
    return datetime.now(UTC)


class PrivacyLedger:
    def __init__(self, path: Path, policy: BudgetPolicy, name: str, clock: Clock = _now):
        self._zone = zone(policy.time_zone)
        self._db = open_store(path, MIGRATIONS)
        self._lock = threading.Lock()
        self.policy, self.name, self.clock = policy, name, clock

    def state(self) -> BudgetState:
        """The budget now: the period the node's clock is in, spent and left."""
        with self._lock:
            return self._state()

    def _state(self) -> BudgetState:
        newest = self._db.execute("SELECT MAX(at_us) FROM spends").fetchone()[0]
        now = self.clock().astimezone(UTC)
        if newest is not None and _instant(int(newest)) > now:  # never back into a spent past
            now = _instant(int(newest))
        period = month_of(now, self._zone)
        return BudgetState(self.policy, period,
                           self._sum("WHERE at_us >= ? AND at_us < ?",
                                     (_micros(period.start), _micros(period.end))),
                           self._sum("", ()), now)

    def _sum(self, where: str, args: tuple[int, ...]) -> Budget:
        epsilon, delta = self._db.execute(
            f"SELECT COALESCE(SUM(epsilon), 0), COALESCE(SUM(delta), 0) FROM spends {where}",
            args).fetchone()
        return Budget(float(epsilon), float(delta))

    def spent(self) -> Budget:
        """Spent over the node's lifetime."""
        return self.state().lifetime_spent

    def check(self, epsilon: float, delta: float) -> BudgetState:
        """The state after such a release, or BudgetExceeded; records nothing."""
        with self._lock:
            return self._state().after(epsilon, delta, self.name)

    def left(self) -> Budget:
        """What one release may spend now (the smaller of the period's and the lifetime's)."""
        return self.state().left

    def spend(self, epsilon: float, delta: float, purpose: str) -> BudgetState:
        """Record a release, or raise BudgetExceeded and record nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                after = self._state().after(epsilon, delta, self.name)
                self._record(after.as_of, purpose, epsilon, delta)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return after

    def _record(self, at: datetime, purpose: str, epsilon: float, delta: float) -> None:
        self._db.execute("INSERT INTO spends (at, at_us, purpose, epsilon, delta) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (at.isoformat(), _micros(at), purpose, epsilon, delta))

    def adopt_policy(self, changed: Callable[[Terms, Terms], object]) -> bool:
        """Record the policy this ledger runs under. When it differs from the one recorded
        last, ``changed(old, new)`` runs first (it writes the node's audit entry; if it raises,
        nothing is recorded and the change is logged at the next start), under the ledger's
        write lock, so that processes starting together log one change once. The first policy
        a ledger records is no change. Whether ``changed`` ran."""
        new = policy_terms(self.policy)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT terms FROM policy WHERE id = 1").fetchone()
                old = json.loads(row[0]) if row else None
                if old != new:
                    if old is not None:
                        changed(old, new)
                    self._db.execute(
                        "INSERT OR REPLACE INTO policy (id, terms, recorded_at) VALUES (1, ?, ?)",
                        (canonical_json(new).decode(), self.clock().astimezone(UTC).isoformat()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return old is not None and old != new

    def training_rounds(self, run: str) -> list[Step]:
        """The DP-SGD rounds this node has run for ``run``, in order."""
        with self._lock:
            return [(float(n), float(q), int(k)) for n, q, k in self._db.execute(
                "SELECT noise, sample_rate, steps FROM training_rounds WHERE run = ? "
                "ORDER BY round", (run,))]

    def spend_round(self, run: str, round_number: int, step: Step, epsilon: float,
                    delta: float) -> BudgetState:
        """Record one training round and what it costs, or raise (BudgetExceeded, or
        ValueError for a round already run: training it again would spend again)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM training_rounds WHERE run = ? AND round = ?",
                                    (run, round_number)).fetchone():
                    raise ValueError(f"{self.name} has already trained round {round_number} "
                                     f"of {run}")
                after = self._state().after(epsilon, delta, self.name)
                self._record(after.as_of, f"training {run} round {round_number}", epsilon,
                             delta)
                self._db.execute("INSERT INTO training_rounds VALUES (?, ?, ?, ?, ?)",
                                 (run, round_number, *step))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return after

    def close(self) -> None:
        self._db.close()


def budget_policy(settings: NodeSettings) -> BudgetPolicy:
    config = settings.privacy_budget
    return BudgetPolicy(Budget(config.period_epsilon, config.period_delta),
                        Budget(config.lifetime_epsilon, config.lifetime_delta),
                        config.time_zone)


def site_ledger(settings: NodeSettings, clock: Clock = _now) -> PrivacyLedger:
    """The node's ledger under its configured budget (trainings and aggregates spend from it),
    on the node's own clock."""
    return PrivacyLedger(settings.stores.privacy_ledger, budget_policy(settings),
                         f"site {settings.site_id}", clock)
