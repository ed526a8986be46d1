"""The coordinator's periodic jobs, run by `coordinator worker` when `coordinator beat` (or
`worker --beat`) schedules them: warrants past their expiry are marked expired, alerts
past ``alert_retention_days`` are deleted (evidence clips' frames sooner, past
``evidence_clip_days``; the result counts both), revoked and used token ids and login counters are
forgotten once they have expired, the anonymous denials of finished intervals are logged (if no
later denial did it first), and the public transparency report is computed afresh. Expiries and
alert purges are logged before they happen, so the report counts expiries and the record of
processing shows the purges; the report is computed last, so it includes them. The witnesses are
asked to cosign the newest checkpoint just before, so that the report rests on a witnessed one.
Webhook and MQTT deliveries whose task was lost are queued again
(``coordinator.delivery_sweep``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from audit.records import Action, Actor, Event, LegalBasis, under
from coordinator import lockout, token_ids
from coordinator.alert_intake import EVENTS_AHEAD
from coordinator.db import (
    Alert,
    AlertEvidence,
    AlertEvidenceClip,
    Delivery,
    EvidenceClipLook,
    EvidenceClipRequest,
    Incident,
    IntakeDecision,
    JobRun,
    MqttDelivery,
    PublishedReport,
)
from coordinator.db import Warrant as WarrantRow
from coordinator.delivery_sweep import requeue_stranded
from coordinator.denials import flush_due
from coordinator.service import Coordinator
from coordinator.services.warrants import signed_of
from coordinator.web.published import publish
from kernel.errors import SafecityError

log = logging.getLogger(__name__)


def _system(svc: Coordinator) -> Actor:
    return svc.actor("coordinator", "system", "city")


def expire_warrants(svc: Coordinator) -> list[str]:
    """Mark every registered warrant whose ``expires_at`` has passed as expired."""
    now = svc.clock()
    with svc.session() as session:
        rows = session.scalars(select(WarrantRow).where(WarrantRow.status == "registered")).all()
    expired = [row for row in rows if signed_of(row).warrant.expires_at <= now]
    for row in expired:
        signed = signed_of(row)
        svc.log(Event(actor=_system(svc), action=Action.WARRANT_EXPIRED,
                      **under(signed.warrant.basis, row.warrant_id), outcome="expired",
                      details={"expires_at": signed.warrant.expires_at.isoformat(),
                               "uses": str(row.uses)}))
        with svc.session() as session:
            session.get_one(WarrantRow, row.warrant_id).status = "expired"
    return [row.warrant_id for row in expired]


def purge_alerts(svc: Coordinator) -> int:
    """Delete alerts whose event is older than the retention period, with their evidence and
    clips, and the incidents last seen before it (their alerts are all among them); log the
    counts first. Clips go sooner (``purge_clips``)."""
    purge_clips(svc)
    cutoff = svc.clock() - timedelta(days=svc.settings.alert_retention_days)
    with svc.session() as session:
        # the flood limit's decisions on events: a redelivery that late is charged again
        # kept an hour longer than the alerts: an event may be dated up to ``EVENTS_AHEAD``
        # after its decision, and must be stale (``alert_intake.STALE``) once its decision goes
        session.execute(delete(IntakeDecision).where(
            IntakeDecision.decided_at < cutoff - EVENTS_AHEAD))
        count = session.scalar(select(func.count()).select_from(Alert).where(Alert.time < cutoff))
        incidents = session.scalar(select(func.count()).select_from(Incident)
                                   .where(Incident.last_seen < cutoff))
    if not count and not incidents:
        return 0
    svc.log(Event(actor=_system(svc), action=Action.RETENTION_PURGE,
                  legal_basis=LegalBasis.STATUTE, purpose_code="alert_retention",
                  outcome="purged", details={"alerts": str(count), "incidents": str(incidents),
                                             "before": cutoff.isoformat()}))
    with svc.session() as session:
        # an alert's webhook and MQTT deliveries go with it (they point at it; past the
        # retention period a delivery still pending has nothing left to deliver), and so does
        # its evidence: a picture (a clip's frames, its requests and looks alike) is kept no
        # longer than the alert it shows
        old = select(Alert.id).where(Alert.time < cutoff).scalar_subquery()
        session.execute(delete(AlertEvidence).where(AlertEvidence.alert_id.in_(old)))
        clips = select(EvidenceClipRequest.request_id).where(
            EvidenceClipRequest.alert_id.in_(old)).scalar_subquery()
        session.execute(delete(EvidenceClipLook).where(EvidenceClipLook.request_id.in_(clips)))
        session.execute(delete(AlertEvidenceClip).where(AlertEvidenceClip.alert_id.in_(old)))
        session.execute(delete(EvidenceClipRequest).where(
            EvidenceClipRequest.alert_id.in_(old)))
        session.execute(delete(Delivery).where(Delivery.alert_id.in_(old)))
        session.execute(delete(MqttDelivery).where(MqttDelivery.alert_id.in_(old)))
        session.execute(delete(Alert).where(Alert.time < cutoff))
        session.execute(delete(Incident).where(Incident.last_seen < cutoff))
    return int(count or 0)


def purge_clips(svc: Coordinator) -> int:
    """Delete the frames (and looks) of clips of alerts older than ``evidence_clip_days``, the
    counts logged first, and mark their requests ``purged``: a clip outliving the node's own
    copy and the footage it came from would be footage kept past its retention. Returns how
    many clips (requests with frames) were purged; the entry also says how many frames."""
    cutoff = svc.clock() - timedelta(days=svc.settings.evidence_clip_days)
    old = select(Alert.id).where(Alert.time < cutoff).scalar_subquery()
    with svc.session() as session:
        count = session.scalar(select(func.count()).select_from(AlertEvidenceClip).where(
            AlertEvidenceClip.alert_id.in_(old)))
        clip_count = session.scalar(select(func.count(func.distinct(
            AlertEvidenceClip.request_id))).where(AlertEvidenceClip.alert_id.in_(old)))
    if not count:
        return 0
    svc.log(Event(actor=_system(svc), action=Action.RETENTION_PURGE,
                  legal_basis=LegalBasis.STATUTE, purpose_code="evidence_clip_retention",
                  outcome="purged", details={"clip_frames": str(count),
                                             "clips": str(clip_count),
                                             "before": cutoff.isoformat()}))
    with svc.session() as session:
        clips = select(EvidenceClipRequest.request_id).where(
            EvidenceClipRequest.alert_id.in_(old)).scalar_subquery()
        session.execute(delete(EvidenceClipLook).where(EvidenceClipLook.request_id.in_(clips)))
        session.execute(delete(AlertEvidenceClip).where(AlertEvidenceClip.alert_id.in_(old)))
        session.execute(update(EvidenceClipRequest).where(
            EvidenceClipRequest.request_id.in_(clips),
            EvidenceClipRequest.state.in_(("received", "incomplete")))
            .values(state="purged", reason="evidence_clip_days", updated_at=svc.clock()))
    return int(clip_count or 0)


def purge_spent(svc: Coordinator) -> int:
    """Forget what only mattered until it expired: revoked token ids and used assertion ids
    past their expiry, and login counters whose window is over."""
    now = int(svc.clock().timestamp())
    with svc.session() as session:
        return token_ids.purge(session, now) + lockout.purge(
            session, now, svc.settings.login_window_seconds)


def publish_report(svc: Coordinator) -> int:
    """Verify the log and store the transparency report at its newest checkpoint, for the
    portal to serve; returns the number of entries it covers."""
    published = publish(svc.audit, svc.clock())
    size = int(published.report["checkpoint"]["size"])
    with svc.session() as session:
        session.merge(PublishedReport(id=1, tree_size=size, body=published.to_json()))
    return size


def witness_newest(svc: Coordinator) -> str:
    """Have the witnesses cosign the newest checkpoint, so that the one the published report
    rests on is witnessed even when no query needed it; a quorum not reached is reported, not raised
    (the other housekeeping still runs)."""
    if not svc.settings.witnesses:
        return "no witnesses configured"
    try:
        svc.witnessing.witnessed()
    except SafecityError as exc:
        log.warning("housekeeping: %s", exc)
        return str(exc)
    return "witnessed"


# a job queued sooner than this part of its interval after its last start is skipped: room
# for beat's own messages arriving late or early, never two runs within 9/10 of an interval
RUN_SLACK = 0.1


def claim_run(svc: Coordinator, name: str, interval: float) -> bool:
    """Whether the periodic job ``name`` may run now: it last started at least (nine tenths
    of) ``interval`` seconds ago, or never. If so, its start is recorded now, in one
    conditional update, so two workers taking two messages at once run it once."""
    now = svc.clock()
    cutoff = now - timedelta(seconds=interval * (1 - RUN_SLACK))
    try:
        with svc.session() as session:
            claimed = session.execute(update(JobRun).where(
                JobRun.name == name, JobRun.started_at <= cutoff).values(started_at=now))
            if claimed.rowcount:  # type: ignore[attr-defined]
                return True
            if session.get(JobRun, name) is not None:
                return False
            session.add(JobRun(name=name, started_at=now))
    except IntegrityError:  # another worker recorded its first run just now
        return False
    return True


def housekeeping(svc: Coordinator) -> dict[str, object]:
    # the clips first (``purge_alerts`` would purge them too, uncounted here)
    return {"expired_warrants": expire_warrants(svc), "purged_clips": purge_clips(svc),
            "purged_alerts": purge_alerts(svc),
            "requeued_deliveries": requeue_stranded(svc),
            "purged_spent": purge_spent(svc), "denial_entries": len(flush_due(svc)),
            "witnesses": witness_newest(svc), "report_entries": publish_report(svc)}
