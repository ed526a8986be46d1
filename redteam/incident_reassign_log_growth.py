"""Finding (low): an operator can append permanent audit entries at will by "assigning" an
incident to the owner it already has. ``assigned`` may follow ``assigned`` and nothing checks
that the owner changes, so each call is a new ``alert_handled`` entry in the append-only,
witnessed public log (which the denial counting was designed to keep from growing at anyone's
will) and changes nothing else.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/incident_reassign_log_growth.py
Exit 1 = no-op reassignments were logged, 0 = they were refused.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from redteam.incident_city import city
from tests.support.incident_events import event, send

TRIES = 20


def main() -> int:
    with city() as w:
        (incident,) = send(w, [event(datetime.now(UTC))]).incidents
        op = w.as_("operator")
        codes = [w.client.post(f"/incidents/{incident}/assign", headers=op,
                               json={"username": "operator"}).status_code
                 for _ in range(TRIES)]
        entries = w.client.get("/audit/entries?start=0&limit=500").json()
        entries = entries if isinstance(entries, list) else entries["entries"]
        logged = sum(e["record"]["action"] == "alert_handled" for e in entries)
        print(f"{TRIES} assignments to the same owner: answers {sorted(set(codes))}, "
              f"{logged} public alert_handled entries")
    print("ATTACK WORKED: no-op reassignments grow the permanent log" if logged > 1 else "held")
    return 1 if logged > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
