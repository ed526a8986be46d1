"""Finding: a time filter at the edge of the calendar crashes the incident list (HTTP 500).

``IncidentFilter`` converts ``since``/``until`` to UTC with ``astimezone``; a time near year 1
or 9999 with an offset that pushes it past the calendar raises ``OverflowError``, which pydantic
does not turn into a validation error: the coordinator answers 500 and logs a traceback, for
every such request (the control room's form does the same in any city whose zone is not UTC).

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/incident_filter_overflow.py
Exit 1 = a 500 came back, 0 = every probe was refused with 4xx.
"""

from __future__ import annotations

import sys

from redteam.incident_city import city

PROBES = ("/incidents?since=0001-01-01T00:00:00%2B01:00",
          "/incidents?until=9999-12-31T23:59:59-05:00",
          "/control-room?since=0001-01-01T00:00",  # the city's clock in Europe/Berlin
          "/control-room?until=9999-12-31T23:59")


def main() -> int:
    crashed = []
    for zone in ("Europe/Berlin", "America/New_York"):
        with city(time_zone=zone) as w:
            for probe in PROBES:
                status = w.client.get(probe, headers=w.as_("operator")).status_code
                print(f"{zone:18} {probe:55} -> {status}")
                if status >= 500:
                    crashed.append((zone, probe))
    print("ATTACK WORKED: server errors on" if crashed else "held", crashed or "")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
