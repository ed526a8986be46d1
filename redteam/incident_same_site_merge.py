"""Finding (low): a second node at the same site merges into, and keeps alive, another node's
incident. The incident key is (site, camera, rule, zone or line); the node is not in it, and
enrolment lets two nodes of one site name the same camera (the defaults ``gate``/``lobby``).
A compromised node B at site-a sends events under node A's rule ids: they join A's incident
(the operator sees one incident, no node in it), raise its alert count, and - one every window
- keep it current, so A's real alerts never open a fresh incident.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/incident_same_site_merge.py
Exit 1 = node B's alerts joined node A's incident, 0 = they were kept apart.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from redteam.incident_city import city
from tests.support.incident_events import event, send

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)  # all sent in the past


def main() -> int:
    with city() as w:
        w.add_node("gamma", "site-a")  # a second node at site-a, same camera names
        (mine,) = send(w, [event(NOW, rule="fence")], node="alpha").incidents
        keep_alive = [event(NOW + timedelta(seconds=100 * n), rule="fence") for n in range(1, 40)]
        theirs = send(w, keep_alive, node="gamma").incidents
        later = send(w, [event(NOW + timedelta(seconds=4000), rule="fence")], node="alpha")
        shown = w.client.get(f"/incidents/{mine}", headers=w.as_("operator")).json()
        nodes = sorted({a["node_id"].split("-")[0] for a in shown["alerts"]})
        print(f"alpha's incident {mine}; gamma's alerts went to {sorted(set(theirs))}; alpha's "
              f"alert 66 min later went to {later.incidents}; incident has "
              f"{shown['alert_count']} alerts from nodes {nodes}; node shown on the incident:",
              "node_id" in shown)
    merged = set(theirs) == {mine}
    print("ATTACK WORKED: another node's alerts merged into the incident" if merged else "held")
    return 1 if merged else 0


if __name__ == "__main__":
    sys.exit(main())
