"""What the city's audit log shows in public of an evidence clip request, and the one check
that a signed ``ClipRequest`` is the request that entry logged: made by the node before it
answers (the receipt proves the entry is in the witnessed log; this proves the entry is this
request), and by the coordinator's tests.

The leaf never holds personal details (``audit.records``): who asked for which alert of which
incident is sealed for the DPO. What the request needs a node to check is public: the entry's
id is the request's id, its actor's pseudonym the requester, its recipient the node, its scope
the site, the camera and the event's moment (the event ``seq`` stands for, at that node)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from audit.records import Action, PublicRecord, Scope, Window, rfc3339
from contract.evidence_clips import ClipRequest

OUTCOME = "evidence_clip_requested"
PURPOSE = "control_room"


def logged_fields(request_id: str, node_id: str, site: str, camera: str, moment: datetime
                  ) -> dict[str, Any]:
    """The public fields of the request's audit entry (``audit.records.Event`` keywords)."""
    at = rfc3339(moment)
    return {"event_id": request_id, "action": Action.CONSULTATION, "outcome": OUTCOME,
            "purpose_code": PURPOSE, "recipients": (node_id,),
            "scope": Scope(sites=(site,), cameras=(camera,), window=Window(start=at, end=at))}


def not_logged(record: PublicRecord, request: ClipRequest,
               event_time: datetime | None = None) -> str | None:
    """Why ``record`` is not the log entry of ``request`` (None: it is). ``event_time``: the
    moment of the event ``request.seq`` at the node, checked against the logged scope."""
    window = record.scope.window
    checks = (
        (record.action is Action.CONSULTATION and record.outcome == OUTCOME,
         "the entry is not an evidence clip request"),
        (record.event_id == request.request_id, "the entry logs another request"),
        (record.actor.pseudonym == request.requester, "the entry names another requester"),
        (record.recipients == (request.node_id,), "the entry names another node"),
        (record.scope.sites == (request.site,) and record.scope.cameras == (request.camera,),
         "the entry names another site or camera"),
        (event_time is None or (window is not None and window.start == window.end
                                == rfc3339(event_time)),
         "the entry names another moment than the event's"),
    )
    return next((why for ok, why in checks if not ok), None)
