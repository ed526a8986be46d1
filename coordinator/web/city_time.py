"""Times as the city's staff read them: in the coordinator's ``time_zone`` (an IANA name, checked
when the settings load), to the second (the page names the zone in its column headings, and
each ``<time>`` element carries the instant with its offset); and the wall-clock times
a page's form sends (``<input type="datetime-local">``) read in that zone. The API itself keeps
to RFC 3339 with an offset."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from coordinator.errors import invalid
from coordinator.service import as_utc


def local(moment: datetime, zone: str) -> datetime:
    """``moment`` in the city's zone; in UTC where the zone's offset would take it past the
    calendar (a node signs its own event times: one at 9999-12-31T23:30Z must not take the
    control room down for every operator, and its ``<time datetime>`` still says +00:00)."""
    moment = as_utc(moment)
    try:
        return moment.astimezone(ZoneInfo(zone))
    except OverflowError:
        return moment


def shown(moment: datetime, zone: str) -> str:
    return local(moment, zone).strftime("%Y-%m-%d %H:%M:%S")


def instant(moment: datetime, zone: str) -> str:
    """For a ``<time datetime>``: the city's wall clock with its offset, to the second."""
    return local(moment, zone).isoformat(timespec="seconds")


def wall_clock(value: str, zone: str, name: str) -> datetime | None:
    """A form's ``YYYY-MM-DDTHH:MM`` in the city's zone (empty: none); a problem otherwise."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(f"{name}: {value[:40]!r} is not a date and time") from None
    if moment.tzinfo is not None:
        raise invalid(f"{name}: give the time as the city's clock shows it, without an offset")
    return moment.replace(tzinfo=ZoneInfo(zone))
