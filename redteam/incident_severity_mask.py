"""Finding: a weapon alert can be hidden inside a low-severity, already-handled incident.

The incident key is (site, camera, rule, zone or line): the alert's *type* is not in it, and
the incident's ``type`` and ``severity`` are fixed by its first alert. Event type and rule id
are both whatever the node signs (a compromised node, or simply a rule id reused with another
type after a config change). A later alert of the key joins the incident whatever its type and
whatever the incident's state: an acknowledged or assigned incident stays so, its severity stays
low, and ``?type=weapon`` / ``?state=new`` do not find it.

Attack (real coordinator on PostgreSQL; node alpha at site-a):
  1. An ``occupancy`` event under rule ``r1`` (zone ``hall``): a *low* incident.
  2. The operator acknowledges it (routine crowd count).
  3. A ``weapon`` event (score 990) under the same rule id and zone, a minute later.
  The operator's views: severity, type, state of the incident; filters type=weapon, state=new.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/incident_severity_mask.py
Exit 1 = the weapon alert is masked, 0 = it surfaced as its own / escalated incident.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from redteam.incident_city import city
from tests.support.incident_events import event, send

NOW = datetime.now(UTC).replace(microsecond=0)


def main() -> int:
    with city() as w:
        op = w.as_("operator")
        crowd = send(w, [event(NOW, type_="occupancy", rule="r1", zone="hall")])
        (incident,) = crowd.incidents
        assert w.client.post(f"/incidents/{incident}/acknowledge", headers=op).status_code == 200
        armed = event(NOW + timedelta(minutes=1), type_="weapon", rule="r1", zone="hall")
        weapon = send(w, [replace(armed, score=0.99)])
        shown = w.client.get(f"/incidents/{weapon.incidents[0]}", headers=op).json()
        print("weapon alert went to incident", weapon.incidents, "| that incident:",
              {k: shown[k] for k in ("type", "severity", "state", "alert_count")},
              "| its alerts:", [a["type"] for a in shown["alerts"]])
        by_type = w.client.get("/incidents?type=weapon", headers=op).json()["total"]
        new = w.client.get("/incidents?state=new", headers=op).json()["total"]
        high = "severity-high" in w.client.get("/control-room", headers=op).text
        print(f"GET /incidents?type=weapon total={by_type}; ?state=new total={new}; "
              f"control room shows a high-severity row: {high}")
        masked = shown["severity"] != "high" and by_type == 0 and new == 0 and not high
    print("ATTACK WORKED: weapon alert masked in an acknowledged low incident" if masked
          else "held: the weapon alert surfaced")
    return 1 if masked else 0


if __name__ == "__main__":
    sys.exit(main())
