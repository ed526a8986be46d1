"""The messages of a planner's aggregate question: the coordinator asks one node for counts per
zone per hour, or a dwell-time histogram, at a stated (epsilon, delta); the node spends that from
its own privacy budget, adds the noise itself and answers with noisy counts only, signed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contract.queries import Signed
from contract.warrants import Window

MAX_EPSILON = 10.0
# The smallest epsilon a question may spend: below it the noise scale sensitivity/epsilon
# overflows (5e-324 gives inf) or the decimal underflows to 0.0 as a float (1E-400), and the
# answer is pure noise anyway (Laplace scale 10^6 at 1e-6). Checked by the coordinator
# (NewAggregate) and again by the node (AggregateRequest).
MIN_EPSILON = 1e-6
MAX_DELTA = 1e-3
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"
# Dwell buckets in seconds: [lower, upper); the last is open.
DWELL_BUCKETS: tuple[tuple[float, float | None], ...] = (
    (0, 10), (10, 30), (30, 60), (60, 300), (300, 900), (900, None))


class AggregateKind(StrEnum):
    ZONE_COUNTS_HOURLY = "zone_counts_hourly"  # visits starting in each zone, each hour
    DWELL_HISTOGRAM = "dwell_histogram"  # visits per dwell-time bucket, each zone


class AggregateRequest(Signed):
    DOMAIN: ClassVar[bytes] = b"safecity aggregate/v1\n"

    version: int = 1
    query_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    node_id: str = Field(pattern=_NAME)
    site: str = Field(pattern=_NAME)
    kind: AggregateKind
    cameras: tuple[str, ...] = Field(min_length=1, max_length=256)
    window: Window
    epsilon: Decimal = Field(ge=Decimal(str(MIN_EPSILON)), le=MAX_EPSILON)
    delta: Decimal = Field(ge=0, le=MAX_DELTA)
    issued_at: AwareDatetime
    log_index: int = Field(ge=0, description="the coordinator's audit entry for the request")


class SignedAggregateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request: AggregateRequest
    signature: str = Field(max_length=200)


class Cell(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    camera: str
    zone: str
    bucket: str  # the hour (ISO 8601) or the dwell bucket ("10-30s", "900s+")
    value: int | None  # None: suppressed (a small noisy count)


class BudgetReport(BaseModel):
    """A node's privacy budget as its own ledger and clock saw it when it answered: the policy
    (calendar-month periods in ``time_zone``; a lifetime cap that never renews), the current
    period, and what this period and the node's lifetime have spent and have left. ``epsilon_left``
    and ``delta_left`` are what one more question may spend now (the smaller of the two)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: str = "month"  # the kind of accounting period: a calendar month
    time_zone: str
    period_label: str  # "2026-12"
    period_start: AwareDatetime  # inclusive
    period_end: AwareDatetime  # exclusive: the next period's budget starts then
    period_epsilon: Decimal
    period_epsilon_spent: Decimal
    period_epsilon_left: Decimal
    period_delta: Decimal
    period_delta_spent: Decimal
    period_delta_left: Decimal
    lifetime_epsilon: Decimal
    lifetime_epsilon_spent: Decimal
    lifetime_epsilon_left: Decimal
    lifetime_delta: Decimal
    lifetime_delta_spent: Decimal
    lifetime_delta_left: Decimal
    epsilon_left: Decimal
    delta_left: Decimal
    as_of: AwareDatetime  # the node's clock


def reported_instant(value: Any) -> datetime:
    """An instant of a reported budget (JSON: RFC 3339 text) in UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(
        str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a reported instant must carry its time zone")
    return moment.astimezone(UTC)


def estimate(budget: Mapping[str, Any], now: datetime) -> tuple[bool, Decimal]:
    """From a node's reported ``budget`` (``BudgetReport`` as JSON), at the coordinator's clock
    ``now`` (aware): whether the reported period has ended (``now`` at or past its end: the node
    has started a new period, whose spending it has not reported yet), and what one more
    question may spend as far as the coordinator knows: the reported ``epsilon_left`` while the
    period runs; after it, the smaller of a period's budget and the lifetime left (the lifetime
    never renews). An upper bound: trainings spend too, and the node decides."""
    if now.tzinfo is None:
        raise ValueError("the clock an estimate is made at must carry its time zone")
    if now >= reported_instant(budget["period_end"]):
        return True, min(Decimal(str(budget["period_epsilon"])),
                         Decimal(str(budget["lifetime_epsilon_left"])))
    return False, Decimal(str(budget["epsilon_left"]))


class AggregateResult(Signed):
    DOMAIN: ClassVar[bytes] = b"safecity aggregate result/v1\n"

    version: int = 1
    query_id: str
    node_id: str
    status: str  # answered | refused
    reason: str | None = None
    detail: str | None = None
    cells: tuple[Cell, ...] = ()
    mechanism: str | None = None
    noise_scale: Decimal | None = None  # Laplace b, or the Gaussian's sigma
    epsilon: Decimal = Decimal(0)
    delta: Decimal = Decimal(0)
    suppressed_below: int = 0
    epsilon_left: Decimal | None = None  # what the next question may spend (budget.epsilon_left)
    budget: BudgetReport | None = None  # with answers and budget refusals
    node_log_index: int | None = None
    answered_at: AwareDatetime


class SignedAggregateResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    result: AggregateResult
    signature: str


def bucket_label(lower: float, upper: float | None) -> str:
    return f"{lower:g}-{upper:g}s" if upper is not None else f"{lower:g}s+"


def decimal(value: float) -> Decimal:
    """A float as the shortest decimal that reads back as the same float."""
    return Decimal(repr(value))
