"""Finding (low): nothing bounds how many incidents one node opens. Each event with a new rule
id (any ``[A-Za-z0-9_.:-]{1,64}``) or zone opens an incident; a batch holds 500 events and
nothing limits a node's batches, so one compromised node buries every site's incidents and grows
the table without bound (until the retention purge, or for ever with future times: see
incident_future_pin.py). This script measures it on PostgreSQL: 20 batches of 500 distinct
rules, then the operator's first page and its worst filters.

Held since session 13 by the per-node intake rate (``coordinator/intake_limit.py``, a token
bucket of ``node_event_burst`` refilled at ``node_events_per_minute``): 1,119 incidents of the
10,000 events, the rest refused and audited (``events_refused``).

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/incident_flood.py
Exit 1 = one node opened an incident for every event it sent, 0 = the intake capped it.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

from redteam.incident_city import city
from tests.support.incident_events import event, send

NOW = datetime.now(UTC).replace(microsecond=0)
BATCHES, SIZE = 20, 500


def main() -> int:
    with city() as w:
        started, opened = time.monotonic(), 0
        for b in range(BATCHES):
            opened += len(send(w, [event(NOW - timedelta(seconds=b), rule=f"f{b}-{n}")
                                   for n in range(SIZE)]).incidents)
        print(f"{BATCHES * SIZE} events from one node: {opened} incidents "
              f"({time.monotonic() - started:.1f} s of intake)")
        op = w.as_("operator")
        for probe in ("/incidents", "/incidents?offset=9950&limit=200",
                      "/incidents?camera=gate&type=restricted_area&offset=9900",
                      "/control-room?offset=9975"):
            t = time.monotonic()
            status = w.client.get(probe, headers=op).status_code
            print(f"{probe:58} {status} in {1000 * (time.monotonic() - t):.0f} ms")
    worked = opened == BATCHES * SIZE
    print("ATTACK WORKED: one incident per event, uncapped" if worked else "held")
    return 1 if worked else 0


if __name__ == "__main__":
    sys.exit(main())
