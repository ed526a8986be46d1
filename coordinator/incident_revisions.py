"""Numbering incident changes, for the control room's live feed to resume from
(``GET /incidents/stream``, ``Last-Event-ID``).

Each transaction that opens or changes incidents numbers them, as its last step before commit,
from one counter row (``incident_revisions``): the update of that row locks it until the
transaction commits (PostgreSQL row lock; SQLite locks the whole database for a write), so a
later number is only handed out after the earlier one's transaction has committed. A reader
that has seen revision ``n`` has therefore seen every committed change numbered below ``n``:
resuming "after ``n``" misses nothing. Numbering last keeps the counter locked only for the
commit, and after every incident lock the transaction takes (so that no two transactions wait
on each other: the counter is the last lock either asks for).

A sequence would hand numbers out in the order transactions ask, not the order they commit,
and a reader could skip a change committed late under a lower number."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from coordinator.db import Incident, IncidentRevision


def number(session: Session, incidents: Sequence[Incident]) -> None:
    """Give each incident (flushed, changed in this transaction) the next revision number, in
    id order; one just opened (no number yet) is opened at it too."""
    if not incidents:
        return
    last = session.execute(update(IncidentRevision).where(IncidentRevision.id == 1)
                           .values(last=IncidentRevision.last + len(incidents))
                           .returning(IncidentRevision.last)).scalar_one()
    for offset, incident in enumerate(sorted(incidents, key=lambda i: i.id)):
        incident.revision = last - len(incidents) + 1 + offset
        if incident.opened_revision is None:
            incident.opened_revision = incident.revision
    session.flush()
