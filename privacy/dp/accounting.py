"""A node's privacy budget (pure logic): (epsilon, delta) spent by basic composition (Dwork and
Roth, "The Algorithmic Foundations of Differential Privacy", Theorem 3.16), refused past the
total. The node keeps the ledger; this decides.

A node's budget has two caps, both enforced on every release: the current accounting period's
(a calendar month in a stated time zone, renewed each month) and a lifetime cap over every
release the node ever made, which never renews. Periods only pace spending; the guarantee a
person can rely on across periods is the lifetime cap (SECURITY.md, "Privacy budget periods")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kernel.errors import SafecityError
from privacy.dp.periods import Period


class BudgetExceeded(SafecityError):
    """The release would take the node past its privacy budget (``cap``: "period" or
    "lifetime", the one it would break)."""

    def __init__(self, message: str, cap: str = "period"):
        super().__init__(message)
        self.cap = cap


@dataclass(frozen=True)
class Budget:
    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        if self.epsilon < 0 or not 0 <= self.delta < 1:
            raise ValueError("a budget is epsilon >= 0 and delta in [0, 1)")

    def after(self, epsilon: float, delta: float) -> Budget:
        return Budget(self.epsilon + epsilon, self.delta + delta)


def check_spend(total: Budget, spent: Budget, epsilon: float, delta: float, who: str,
                cap: str = "period") -> Budget:
    """The spent budget after this release, or BudgetExceeded naming what is left."""
    if epsilon <= 0 or delta < 0:
        raise ValueError("a release spends epsilon > 0 and delta >= 0")
    after = spent.after(epsilon, delta)
    if after.epsilon > total.epsilon + 1e-12 or after.delta > total.delta + 1e-18:
        raise BudgetExceeded(
            f"{who}: this release needs epsilon {epsilon:g}, delta {delta:g}; "
            f"{max(0.0, total.epsilon - spent.epsilon):g} and "
            f"{max(0.0, total.delta - spent.delta):g} are left of "
            f"({total.epsilon:g}, {total.delta:g})", cap)
    return after


@dataclass(frozen=True)
class BudgetPolicy:
    """What a node may spend: ``period`` per calendar month in ``time_zone``, and ``lifetime``
    over all months together."""
    period: Budget
    lifetime: Budget
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.period.epsilon > self.lifetime.epsilon
                or self.period.delta > self.lifetime.delta):
            raise ValueError("a period's budget cannot exceed the lifetime cap")


@dataclass(frozen=True)
class BudgetState:
    """A node's budget at one instant of its own clock: the period it is in, what this period
    and the node's lifetime have spent, and the policy."""
    policy: BudgetPolicy
    period: Period
    period_spent: Budget
    lifetime_spent: Budget
    as_of: datetime

    @property
    def period_left(self) -> Budget:
        return _left(self.policy.period, self.period_spent)

    @property
    def lifetime_left(self) -> Budget:
        return _left(self.policy.lifetime, self.lifetime_spent)

    @property
    def left(self) -> Budget:
        """What one more release may spend now: the smaller of the two caps' remainders."""
        period, lifetime = self.period_left, self.lifetime_left
        return Budget(min(period.epsilon, lifetime.epsilon), min(period.delta, lifetime.delta))

    def after(self, epsilon: float, delta: float, who: str) -> BudgetState:
        """This state once a release of (epsilon, delta) is recorded, or BudgetExceeded naming
        the cap it would break and what is left of it."""
        check_spend(self.policy.lifetime, self.lifetime_spent, epsilon, delta,
                    f"{who} (lifetime cap, never renewed)", cap="lifetime")
        check_spend(self.policy.period, self.period_spent, epsilon, delta,
                    f"{who} (period {self.period.label}, {self.policy.time_zone}; the next "
                    f"starts {self.period.end.isoformat()})", cap="period")
        return BudgetState(self.policy, self.period, self.period_spent.after(epsilon, delta),
                           self.lifetime_spent.after(epsilon, delta), self.as_of)


def _left(total: Budget, spent: Budget) -> Budget:
    return Budget(max(0.0, total.epsilon - spent.epsilon), max(0.0, total.delta - spent.delta))
