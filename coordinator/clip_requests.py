"""An operator's request for the clip of one alert (issue 23; the node's side answers it).

Logged first: a ``consultation``, outcome ``evidence_clip_requested``, whose public fields are
the ones a node checks (``contract.clip_request_log``: the entry's id is the request's, its
actor the requester's pseudonym, its recipient the node, its scope the site, camera and the
event's moment) and whose sealed details name the request, node, camera, event, requester,
incident and alert for the DPO. Then the request is stored and queued for the coordinator's
worker, which takes the entry's receipt under a checkpoint the witnesses' quorum cosigned
(``coordinator.log_receipts``, as a query takes its warrant's) and the salts opening the
details the node checks, signs the ``ClipRequest`` with
the coordinator's dispatch key and puts it on the node's own queue: a node answers only a
request the city's witnessed log already holds. While a request of the alert is pending or
answered with frames, asking again answers with it, logging nothing; one left waiting past
``evidence_clip_wait_seconds`` (``unsent``: never sent, the worker or broker away;
``unanswered``; ``incomplete``) is over for good and may be asked for again: the ask stores
the state it ended in under its row lock, and the worker no longer sends it
(``coordinator.evidence_clips``: why a late answer is refused)."""

from __future__ import annotations

import base64
import logging
import uuid

from sqlalchemy import select

from audit.records import Event, LegalBasis
from contract.clip_request_log import logged_fields
from contract.evidence_clips import ClipRequest, SignedClipRequest
from contract.tasks import CLIP_REQUEST_TASK, LIVE_QUEUE, SEND_CLIP_REQUEST_TASK
from coordinator.auth import Principal
from coordinator.db import Alert, AlertEvidence, EvidenceClipRequest, Node
from coordinator.errors import DispatchError, Problem, not_found
from coordinator.evidence_clips import PENDING, ClipView, changes, closed_if_over, view
from coordinator.log_receipts import witnessed
from coordinator.node_log_heads import held_size
from coordinator.service import Coordinator, as_utc

log = logging.getLogger(__name__)
# the sealed details whose salts travel with the request, so the node can open what the entry
# commits to (the incident and alert stay sealed: the node has no use for them)
OPENED = ("request_id", "node_id", "camera", "seq", "requester")


def request_clip(svc: Coordinator, who: Principal, alert_id: int) -> tuple[ClipView, bool]:
    """The alert's clip request, and whether it is new (logged, stored and queued now).
    Simultaneous asks for one alert are serialised from the check to the insert, so one logs
    and stores a request and the others answer with it, logging nothing."""
    with changes(svc), svc.session() as session:
        alert = session.get(Alert, alert_id, with_for_update=True)  # held until the insert
        if alert is None:
            raise not_found(f"alert {alert_id}")
        has_evidence = session.scalars(select(AlertEvidence.id).where(
            AlertEvidence.alert_id == alert_id)).first() is not None
        node = session.get(Node, alert.node_id) if alert.node_id else None
        if alert.node_id is None or not has_evidence:
            raise Problem(409, "No evidence", f"alert {alert_id} has no evidence from a camera "
                          "site, so its node has no clip of it", "no_evidence")
        if node is None or not node.active:
            raise Problem(409, "Node not enrolled", f"node {alert.node_id} of alert {alert_id} "
                          "is not enrolled (any more): nothing can be asked of it",
                          "node_not_enrolled")
        current = session.scalars(select(EvidenceClipRequest).where(
            EvidenceClipRequest.alert_id == alert_id)
            .order_by(EvidenceClipRequest.requested_at.desc()).limit(1)
            .with_for_update()).first()  # a frame or the worker racing the ask waits, or won
        if current is not None and closed_if_over(svc, session, current) in (*PENDING,
                                                                             "received"):
            return view(svc, current), False  # not over: that one
        request_id, index = _logged(svc, who, alert, node)
        now = svc.clock()
        session.add(EvidenceClipRequest(
            request_id=request_id, alert_id=alert_id, incident_id=alert.incident_id,
            node_id=node.node_id, site_id=node.site_id, camera=alert.camera, seq=alert.seq,
            requested_by=who.username, logged_index=index, state="requested",
            requested_at=now, updated_at=now))
    try:
        svc.dispatcher.enqueue(SEND_CLIP_REQUEST_TASK, [request_id], LIVE_QUEUE)
    except DispatchError as exc:
        fail(svc, request_id, "broker_unavailable", str(exc))
    return view(svc, _row(svc, request_id)), True


def _logged(svc: Coordinator, who: Principal, alert: Alert, node: Node) -> tuple[str, int]:
    """A new request's id and its audit entry's index, logged before it is stored."""
    request_id = str(uuid.uuid4())
    index = svc.log(Event(
        actor=who.actor, legal_basis=LegalBasis.STATUTE,
        **logged_fields(request_id, node.node_id, node.site_id, alert.camera,
                        as_utc(alert.time)),
        details={"request_id": request_id, "node_id": node.node_id, "camera": alert.camera,
                 "seq": alert.seq, "requester": who.actor.pseudonym,
                 "incident": str(alert.incident_id), "alert": str(alert.id)}))
    return request_id, index


def _row(svc: Coordinator, request_id: str) -> EvidenceClipRequest:
    with svc.session() as session:
        return session.get_one(EvidenceClipRequest, request_id)


def send_clip_request(svc: Coordinator, request_id: str) -> str:
    """Sign and send a logged request to its node (the worker's task); the request's state.
    One past its deadline (``unsent``) is not sent: the operator was told it is over and may
    have asked again. Raises ``WitnessQuorumError``, ``AuditError`` or ``DispatchError`` when
    it could not be sent now (the worker tries again)."""
    with changes(svc), svc.session() as session:
        row = session.get(EvidenceClipRequest, request_id, with_for_update=True)
        state = closed_if_over(svc, session, row) if row is not None else "unknown"
    if row is None or state != "requested":  # sent already (a redelivered task), or over
        return state
    checkpoint = witnessed(svc)
    if not checkpoint.covers(row.logged_index):
        raise DispatchError(f"the witnessed checkpoint (size {checkpoint.size}) does not "
                            f"cover entry {row.logged_index} yet")
    request = ClipRequest(
        request_id=row.request_id, node_id=row.node_id, site=row.site_id, camera=row.camera,
        seq=row.seq, requester=svc.keys.pseudonym(row.requested_by), issued_at=svc.clock(),
        receipt=checkpoint.receipt(svc, row.logged_index),
        openings={name: base64.b64encode(svc.audit.opening(row.logged_index, name)).decode()
                  for name in OPENED},
        log_consistency=checkpoint.consistency(svc, held_size(svc, row.node_id)))
    signed = SignedClipRequest(request=request, signature=request.sign(svc.keys.dispatch))
    with changes(svc), svc.session() as session:  # sent only while not over, under the lock
        row = session.get_one(EvidenceClipRequest, request_id, with_for_update=True)
        state = closed_if_over(svc, session, row)
        if state != "requested":  # over, or failed, while the witnesses were asked
            return state
        svc.dispatcher.send(CLIP_REQUEST_TASK, signed.model_dump(mode="json"), row.node_id,
                            f"clip.{request_id}")
        row.state, row.updated_at = "sent", svc.clock()
    return "sent"


def fail(svc: Coordinator, request_id: str, reason: str, detail: str) -> None:
    """The request could not be sent (the broker, or the witnesses, stayed away)."""
    log.warning("clip request %s not sent: %s", request_id, detail)
    _set(svc, request_id, "failed", reason, detail[:500])


def _set(svc: Coordinator, request_id: str, state: str, reason: str | None,
         detail: str | None) -> None:
    with changes(svc), svc.session() as session:
        row = session.get_one(EvidenceClipRequest, request_id, with_for_update=True)
        # an answer that came first is kept, and so is the end of one over (``unsent``)
        if closed_if_over(svc, session, row) == "requested":
            row.state, row.reason, row.detail = state, reason, detail
            row.updated_at = svc.clock()
