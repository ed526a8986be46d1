"""A node's privacy budget (pure logic): (epsilon, delta) spent by basic composition (Dwork and
Roth, "The Algorithmic Foundations of Differential Privacy", Theorem 3.16), refused past the
total. The node keeps the ledger; this decides."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import SafecityError


class BudgetExceeded(SafecityError):
    """The release would take the node past its privacy budget."""


@dataclass(frozen=True)
class Budget:
    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        if self.epsilon < 0 or not 0 <= self.delta < 1:
            raise ValueError("a budget is epsilon >= 0 and delta in [0, 1)")

    def after(self, epsilon: float, delta: float) -> Budget:
        return Budget(self.epsilon + epsilon, self.delta + delta)


def check_spend(total: Budget, spent: Budget, epsilon: float, delta: float, who: str) -> Budget:
    """The spent budget after this release, or BudgetExceeded naming what is left."""
    if epsilon <= 0 or delta < 0:
        raise ValueError("a release spends epsilon > 0 and delta >= 0")
    after = spent.after(epsilon, delta)
    if after.epsilon > total.epsilon + 1e-12 or after.delta > total.delta + 1e-18:
        raise BudgetExceeded(
            f"{who}: this release needs epsilon {epsilon:g}, delta {delta:g}; "
            f"{max(0.0, total.epsilon - spent.epsilon):g} and "
            f"{max(0.0, total.delta - spent.delta):g} are left of "
            f"({total.epsilon:g}, {total.delta:g})")
    return after
