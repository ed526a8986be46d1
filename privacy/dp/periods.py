"""Accounting periods of a node's privacy budget (pure logic): calendar months in a stated time
zone. A period runs from the first instant of its month in that zone (inclusive) to the first
instant of the next month (exclusive); instants are compared in UTC, so periods tile time with
no gap and no overlap, across daylight-saving changes and leap years."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class Period:
    label: str  # "2026-12": the month, as the zone's calendar names it
    start: datetime  # aware, UTC, inclusive
    end: datetime  # aware, UTC, exclusive: the next period's start

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)") from exc


def _first_of(year: int, month: int, where: ZoneInfo) -> datetime:
    # midnight of the 1st in the zone; where a zone skips midnight (a DST change at 00:00) the
    # offset before the change is used, for this period's start and the previous one's end alike
    return datetime(year, month, 1, tzinfo=where).astimezone(UTC)


def month_of(instant: datetime, where: ZoneInfo) -> Period:
    """The calendar month (in ``where``) that ``instant`` (aware) falls in."""
    if instant.tzinfo is None:
        raise ValueError("an accounting instant must carry its time zone")
    local = instant.astimezone(where)
    year, month = local.year, local.month
    start = _first_of(year, month, where)
    if instant.astimezone(UTC) < start:  # inside a skipped midnight hour: still the month before
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        start = _first_of(year, month, where)
    after = (year, month + 1) if month < 12 else (year + 1, 1)
    return Period(f"{year:04d}-{month:02d}", start, _first_of(*after, where))
