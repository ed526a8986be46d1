"""Finding: an enrolled node's future-dated event pins an incident at the top of every
operator's control room, swallows every later alert of its key, and escapes the retention purge.

Event times are whatever the node signs (``AnalyticsEvent.time``: any aware datetime; nothing
compares it with the time it was received). The grouping takes ``last_seen = max(time)`` and
lets any alert *earlier* than ``last_seen`` join ("delivered late"), and the list is ordered
newest ``last_seen`` first; the purge deletes incidents with ``last_seen`` before the cutoff.

Attack (one signed batch of a compromised node at site-a, real coordinator on PostgreSQL):
  1. 30 events, each a distinct rule, timed in 2075: 30 incidents.
  2. Site-b raises a real weapon alert now.
  3. Operator opens /control-room (25 a page) and GET /incidents: the weapon incident is not on
     the first page; the 30 pinned ones are.
  4. Site-a's genuine alerts hours apart (same rule as one pinned) all join that one incident.
  5. An operator closes another pinned incident with a note; a year later the retention purge
     runs: the real alerts are gone, the incident and its note are not.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/incident_future_pin.py
Exit 1 = the attack worked (any of 3-5), 0 = it was refused.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from coordinator.db import Incident
from coordinator.housekeeping import purge_alerts
from redteam.incident_city import city
from tests.support.incident_events import event, send

NOW = datetime.now(UTC).replace(microsecond=0)
FUTURE = datetime(2075, 1, 1, tzinfo=UTC)


def main() -> int:
    worked = []
    with city() as w:
        try:
            send(w, [event(FUTURE + timedelta(seconds=n), rule=f"pin-{n}") for n in range(30)])
        except Exception as exc:  # an intake that refuses future events
            print("future-dated batch refused:", type(exc).__name__, exc)
            return 0
        weapon = send(w, [event(NOW, type_="weapon", zone=None, rule="armed")], node="beta")
        weapon_incident = weapon.incidents[0]
        op = w.as_("operator")
        page = w.client.get("/incidents", headers=op).json()
        first = [i["id"] for i in page["incidents"]]
        room = w.client.get("/control-room", headers=op).text
        on_room = f'data-incident="{weapon_incident}"' in room
        print(f"API page 1 (limit {page['limit']}): weapon incident {weapon_incident} listed:",
              weapon_incident in first, "| top:", page["incidents"][0]["last_seen"])
        print("control room page 1 shows the weapon incident:", on_room)
        if weapon_incident not in first or not on_room:
            worked.append("a site-b weapon incident pushed off the first page by site-a's node")

        # genuine alerts of pin-0, hours apart: each should open its own incident
        real = send(w, [event(NOW + timedelta(hours=h), rule="pin-0") for h in (1, 5, 9)])
        print("genuine alerts 4 h apart went to incidents:", real.incidents)
        if len(set(real.incidents)) == 1:
            worked.append("every later alert of the key joins the future-dated incident")

        closed = w.client.post(f"/incidents/{first[1]}/close", headers=op,
                               json={"note": "man in red coat, about 40, escorted out"})
        assert closed.status_code == 200, closed.text
        w.set_time(NOW + timedelta(days=w.settings.alert_retention_days + 365))
        purge_alerts(w.svc)
        with w.svc.session() as session:
            left = session.scalars(select(Incident)).all()
            notes = [i.note for i in left if i.note]
        print(f"after the purge a year past retention: {len(left)} incidents left, notes:",
              notes)
        if notes or any(i.site_id == "site-a" for i in left):
            worked.append("incidents (and a closing note about a person) outlive retention")
    for what in worked:
        print("ATTACK WORKED:", what)
    return 1 if worked else 0


if __name__ == "__main__":
    sys.exit(main())
