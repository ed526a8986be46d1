"""Numbering incident changes and new open alerts, for the control room's live feeds to resume
from (``GET /incidents/stream`` and ``GET /alerts/stream``, ``Last-Event-ID``).

Each transaction that opens or changes incidents, or stores open alerts, numbers them, as its
last step before commit,
from one counter row (``incident_revisions``): the update of that row locks it until the
transaction commits (PostgreSQL row lock; SQLite locks the whole database for a write), so a
later number is only handed out after the earlier one's transaction has committed. A reader
that has seen revision ``n`` has therefore seen every committed change numbered below ``n``:
resuming "after ``n``" misses nothing. Numbering last keeps the counter locked only for the
commit, and after every incident lock the transaction takes (so that no two transactions wait
on each other: the counter is the last lock either asks for).

A sequence would hand numbers out in the order transactions ask, not the order they commit,
and a reader could skip a change committed late under a lower number: an alert's id is such a
number, which is why the alerts' feed resumes from the alert's revision, not its id."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from coordinator.db import Alert, Incident, IncidentRevision


def number(session: Session, incidents: Sequence[Incident],
           alerts: Sequence[Alert] = ()) -> None:
    """Give each incident (flushed, changed in this transaction) the next revision number, in
    id order, and then each new open alert; an incident just opened (no number yet) is opened
    at it too."""
    if not incidents and not alerts:
        return
    wanted = len(incidents) + len(alerts)
    last = session.execute(update(IncidentRevision).where(IncidentRevision.id == 1)
                           .values(last=IncidentRevision.last + wanted)
                           .returning(IncidentRevision.last)).scalar_one()
    numbered = iter(range(last - wanted + 1, last + 1))
    for incident in sorted(incidents, key=lambda i: i.id):
        incident.revision = next(numbered)
        if incident.opened_revision is None:
            incident.opened_revision = incident.revision
    for alert in sorted(alerts, key=lambda a: a.id):
        alert.revision = next(numbered)
    session.flush()
