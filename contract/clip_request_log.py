"""What the city's audit log shows in public of an evidence clip request.

The leaf never holds personal details (``audit.records``): who asked for which alert of which
incident is sealed for the DPO, and a node opens the details it checks with the salts the
request carries (``ClipRequest.openings``). Anyone reading the public log still sees that a
clip was asked of a node, and of which site, camera and moment: the entry's id is the
request's id, its actor the requester's pseudonym, its recipient the node, its scope the site,
the camera and the event's time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from audit.records import Action, Scope, Window, rfc3339

OUTCOME = "evidence_clip_requested"
PURPOSE = "control_room"


def logged_fields(request_id: str, node_id: str, site: str, camera: str, moment: datetime
                  ) -> dict[str, Any]:
    """The public fields of the request's audit entry (``audit.records.Event`` keywords)."""
    at = rfc3339(moment)
    return {"event_id": request_id, "action": Action.CONSULTATION, "outcome": OUTCOME,
            "purpose_code": PURPOSE, "recipients": (node_id,),
            "scope": Scope(sites=(site,), cameras=(camera,), window=Window(start=at, end=at))}
