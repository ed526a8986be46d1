"""Probe (low, attacker: an operator, or one double click with a slow log): two requests for
one alert's clip at the same moment are both logged, stored and sent, although the design says
"a second request while one is pending answers with it and logs nothing".

``coordinator.clip_requests.request_clip`` reads the alert's newest request (``latest``), then
appends the audit entry, then inserts the row, with nothing held between the read and the
insert (no lock on the alert, no unique "open request per alert" constraint). N callers that
pass the read together each log an ``evidence_clip_requested`` entry and each queue a request:
the node cuts and sends the clip N times, the coordinator stores N copies of the frames (only
the newest is shown; the others stay reachable by URL until the alert's purge), and the public
log shows N requests where the operator made one. Everything is still logged, so this is not a
hidden disclosure, only a broken promise and N times the footage leaving the site.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python redteam/clip_double_request_race.py
Exit 1 = more than one request was logged for one alert; 0 = one.
Suggested fix: take a row lock on the alert (``SELECT ... FOR UPDATE``) around the
latest/insert, or a partial unique index on ``evidence_clip_requests(alert_id)`` where state is
requested/sent/received, inserting the row (state ``requested``) before the log entry in the
same transaction and rolling back if the append fails.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from coordinator.db import EvidenceClipRequest
from tests.support.clip_frames import with_evidence
from tests.support.world import World, embedded_world
from tests.unit.test_clip_coordinator import T0

CALLERS = 6
ATTEMPTS = 5


def race(world: World, moment: datetime) -> int:
    """How many requests N simultaneous asks for one new alert's clip logged."""
    alert_id, _, _ = with_evidence(world, moment)
    headers = world.as_("operator")
    start = world.svc.audit.size()
    gate = threading.Barrier(CALLERS)
    codes: list[int] = []

    def ask() -> None:
        gate.wait()
        codes.append(world.client.post(f"/alerts/{alert_id}/clip", headers=headers).status_code)

    threads = [threading.Thread(target=ask) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logged = [e for e in world.svc.audit.entries(start, 100)
              if e.record.outcome == "evidence_clip_requested"]
    with world.svc.session() as session:
        rows = session.scalar(select(func.count()).select_from(EvidenceClipRequest).where(
            EvidenceClipRequest.alert_id == alert_id))
    print(f"{CALLERS} simultaneous POST /alerts/{alert_id}/clip: statuses {sorted(codes)}, "
          f"{len(logged)} evidence_clip_requested entries, {rows} stored requests")
    return len(logged)


def main() -> int:
    world = embedded_world(Path(tempfile.mkdtemp(prefix="rt-clip-race-")))
    try:
        world.set_time(T0 + timedelta(days=1))
        world.add_node("alpha", "site-a")
        worst = 0
        for attempt in range(ATTEMPTS):  # a race: a few tries, each on a fresh alert
            worst = max(worst, race(world, T0 + timedelta(minutes=attempt)))
            if worst > 1:
                break
    finally:
        world.close()
    return 1 if worst > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
