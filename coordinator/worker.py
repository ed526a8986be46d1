"""The coordinator's Celery worker: takes the nodes' event batches off the broker into the
alert queue, their alerts' evidence beside the alerts, live views, and their evidence-export
reports into the audit log, and delivers webhooks and
MQTT messages with retries. Messages are acknowledged after the work is
committed (``acks_late``), and an event seen twice is stored once, so nothing is lost or
doubled when the worker or the broker stops."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from audit.errors import AuditError
from contract.tasks import (
    CLIP_TASK,
    DELIVER_TASK,
    EVENTS_QUEUE,
    EVENTS_TASK,
    EVIDENCE_TASK,
    EXPORT_REPORT_TASK,
    HOUSEKEEPING_TASK,
    PUBLISH_MQTT_TASK,
    SEND_CLIP_REQUEST_TASK,
    SNAPSHOT_TASK,
    WEBHOOKS_QUEUE,
)
from coordinator import denials
from coordinator.alert_intake import Intake, accept
from coordinator.clip_requests import fail, send_clip_request
from coordinator.config import CoordinatorSettings
from coordinator.device_intake import take_device
from coordinator.device_queue import Seen, Unsealed, device_key, open_sealed
from coordinator.errors import (
    DeliveryFailed,
    DispatchError,
    EvidenceEarly,
    ReportRejected,
    WitnessQuorumError,
)
from coordinator.evidence import accept_evidence
from coordinator.evidence_clips import accept_clip
from coordinator.export_reports import accept_export
from coordinator.housekeeping import claim_run, housekeeping
from coordinator.iot_messages import Refused, Stale
from coordinator.live_views import accept_snapshot
from coordinator.metrics import WorkerMetrics
from coordinator.mqtt import Publisher
from coordinator.mqtt import deliver as publish
from coordinator.service import Coordinator
from coordinator.webhooks import MAX_ATTEMPTS, deliver, give_up
from kernel.worker_intake import bound_tasks, own_tasks_only

log = logging.getLogger(__name__)
# queued by the worker's own MQTT listener, sealed (``coordinator.device_queue``)
DEVICE_TASK = "safecity.coordinator.device_message"
MQTT_BACKOFF_CAP_SECONDS = 60
# Evidence travels apart from its event and may come first: taken again after 1, 2, 4 ... 30 s,
# about 4 minutes in all (an event batch waits at most a broker outage longer, and then the
# evidence waits in the broker too), then refused and logged.
EVIDENCE_ATTEMPTS = 12
# A clip request waits for the witnesses and the broker as evidence waits for its alert (about
# 4 minutes), then is marked failed: the operator sees it and may ask again.
CLIP_SEND_ATTEMPTS = 12
# A message dated further ahead than the longest retry delay the worker itself sets (the MQTT
# backoff's cap; webhooks wait at most 60 s, evidence and clip sends 30 s), with a margin, is
# acknowledged and dropped before the worker holds it (``kernel.worker_intake``; red team 3).
ETA_LIMIT_SECONDS = MQTT_BACKOFF_CAP_SECONDS + 30
BROKER = "broker"  # the source unsigned messages are counted under (not an address)
SIGNED_REFUSAL = denials.SIGNED_REFUSAL


def refused(svc: Coordinator, outcome: str, exc: ReportRejected) -> None:
    """A message from the broker refused: an event batch, an export report, a picture or a
    clip message. Signed by an enrolled node: counted under the node, which is accountable
    (``coordinator.denials.count_signed``: one entry naming it per interval, with the counts;
    one entry per message let a rogue node grow the log without limit, red team 3).
    Otherwise anyone on the broker may have sent it, so it is only counted, as anonymous HTTP
    denials are (``coordinator.denials``: one entry per interval for all of them). The
    entry's reason is fixed wording, never the message's own text (red team 2: junk key names
    were quoted into the permanent log; event batches and export reports too, until December
    2026); the worker's log line says which check failed, cut at 500 characters."""
    log.warning("%s (node %s): %s", outcome, exc.node or "unverified", str(exc)[:500])
    if exc.node is None:
        denials.count(svc, BROKER, outcome)
        return
    denials.count_signed(svc, exc.node, outcome)


def mqtt_backoff(retries: int) -> int:
    """Seconds before the next try of an MQTT delivery: doubling, at most a minute."""
    return min(MQTT_BACKOFF_CAP_SECONDS, 2 ** min(retries, 6))


def worker_app(settings: CoordinatorSettings, service: Callable[[], Coordinator],
               metrics: WorkerMetrics | None = None,
               publisher: Publisher | None = None) -> Celery:
    """The worker's tasks. ``publisher``: the MQTT connection (``coordinator worker`` opens
    it at start, so the availability topic says online; else the first delivery opens it)."""
    counted = metrics or WorkerMetrics()
    link: list[Publisher | None] = [publisher]
    if publisher is not None:
        counted.watch_mqtt(publisher)

    def mqtt() -> Publisher | None:
        if link[0] is None and settings.mqtt is not None:
            opened = link[0] = Publisher(settings.mqtt, settings.iot)
            counted.watch_mqtt(opened)
        return link[0]

    # each task with shared=False: Celery gives a shared task (its default) to every app made
    # later in the process, where the first app's task, with its ``service``, takes the name
    app = Celery("safecity-coordinator-worker", broker=settings.broker)
    app.conf.update(
        task_serializer="json", accept_content=["json"], task_ignore_result=True,
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        result_expires=None,  # no results kept: beat needs no celery.backend_cleanup
        beat_scheduler="kernel.beat_scheduler:ReconnectingScheduler",  # reconnects after a failure
    )
    if settings.broker.startswith(("redis", "rediss")):
        app.conf.broker_transport_options = {"visibility_timeout": 60,
                                             "unacked_restore_interval": 5,
                                             "unacked_restore_throttle": 1}

    def refuse(svc: Coordinator, kind: str, outcome: str, exc: ReportRejected,
               **answer: Any) -> dict[str, Any]:
        """A task's message refused (``refused``) and counted; the task's answer."""
        refused(svc, outcome, exc)
        counted.batches.labels(kind, "rejected").inc()
        return {**answer, "rejected": str(exc)[:500]}

    @app.task(shared=False, name=EVENTS_TASK)
    def events(message: dict[str, Any]) -> dict[str, Any]:
        svc = service()
        try:
            intake = accept(svc, message)
        except ReportRejected as exc:
            return refuse(svc, "events", "events_rejected", exc, accepted=0)
        counted.batches.labels("events", "accepted").inc()
        counted.refused.inc(intake.refused)  # logged and audited by the intake
        act(intake)
        return {"accepted": len(intake.alerts), "duplicates": intake.duplicates,
                "incidents": len(intake.incidents), "refused": intake.refused,
                "stale": intake.stale}

    def act(intake: Intake) -> None:
        """Queue the actions planned with new alerts."""
        for delivery in intake.deliveries:
            webhook.apply_async(args=[delivery], queue=WEBHOOKS_QUEUE)
        for delivery in intake.mqtt:
            mqtt_publish.apply_async(args=[delivery], queue=WEBHOOKS_QUEUE)

    seen = Seen()

    @app.task(shared=False, name=DEVICE_TASK)
    def device_message(*args: Any, **kwargs: Any) -> dict[str, Any]:
        """An SOS press or a threshold crossing the worker's MQTT listener heard and sealed.
        Anything else on the broker under this name (unsealed, forged, late, replayed) is
        counted as an anonymous denial (``coordinator.denials``), never logged one by one."""
        svc = service()
        try:
            opened = open_sealed(device_key(svc.keys), args, kwargs, svc.clock(), seen)
        except Unsealed as exc:
            denials.count(svc, BROKER, exc.outcome)
            counted.batches.labels("device", "rejected").inc()
            return {"accepted": 0, "refused": exc.outcome}
        try:
            intake = take_device(svc, opened.topic, opened.payload.encode(), opened.heard)
        except Stale:  # dated too long before it was heard: counted, not logged per message
            counted.batches.labels("device", "rejected").inc()
            return {"accepted": 0, "refused": "stale"}
        except Refused as exc:
            log.warning("device message refused: %s", exc)
            counted.batches.labels("device", "rejected").inc()
            return {"accepted": 0, "refused": str(exc)}
        counted.batches.labels("device", "accepted").inc()
        act(intake)
        return {"accepted": len(intake.alerts), "incidents": len(intake.incidents)}

    @app.task(shared=False, name=EXPORT_REPORT_TASK)
    def export_report(message: dict[str, Any]) -> dict[str, Any]:
        svc = service()
        try:
            index, duplicate = accept_export(svc, message)
        except ReportRejected as exc:
            return refuse(svc, "export", "export_report_rejected", exc, logged=None)
        counted.batches.labels("export", "accepted").inc()
        return {"logged": index, "duplicate": duplicate}

    app.conf.beat_schedule = {"housekeeping": {
        "task": HOUSEKEEPING_TASK, "schedule": float(settings.housekeeping_seconds),
        "options": {"queue": EVENTS_QUEUE, "expires": float(settings.housekeeping_seconds)}}}

    @app.task(shared=False, name=HOUSEKEEPING_TASK)
    def periodic() -> dict[str, Any]:
        """Beat's job, run at most once per ``housekeeping_seconds`` however often it is queued
        (anyone on the broker may queue it; each run verifies the whole log)."""
        svc = service()
        if not claim_run(svc, HOUSEKEEPING_TASK, settings.housekeeping_seconds):
            counted.batches.labels("housekeeping", "skipped").inc()
            return {"skipped": "ran less than housekeeping_seconds ago"}
        done = housekeeping(svc)
        counted.batches.labels("housekeeping", "done").inc()
        return done

    @app.task(shared=False, name=SNAPSHOT_TASK)
    def snapshot(message: dict[str, Any]) -> dict[str, Any]:
        svc = service()
        try:
            kept = accept_snapshot(svc, message)
        except ReportRejected as exc:
            return refuse(svc, "snapshot", "snapshot_rejected", exc, kept=False)
        counted.batches.labels("snapshot", "accepted").inc()
        return {"kept": kept is not None}

    @app.task(shared=False, name=EVIDENCE_TASK, bind=True,
              max_retries=EVIDENCE_ATTEMPTS - 1)
    def evidence(self: Task, message: dict[str, Any]) -> dict[str, Any]:
        svc = service()
        try:
            stored = accept_evidence(svc, message)
        except EvidenceEarly as exc:
            if self.request.retries >= EVIDENCE_ATTEMPTS - 1:
                return refuse(svc, "evidence", "evidence_rejected", ReportRejected(
                    f"{exc}, after {EVIDENCE_ATTEMPTS} tries", node=exc.node), stored=None)
            raise self.retry(countdown=min(30, 2 ** self.request.retries)) from None
        except ReportRejected as exc:
            return refuse(svc, "evidence", "evidence_rejected", exc, stored=None)
        counted.batches.labels("evidence", "accepted").inc()
        return {"stored": stored}

    @app.task(shared=False, name=SEND_CLIP_REQUEST_TASK, bind=True,
              max_retries=CLIP_SEND_ATTEMPTS - 1)
    def send_clip(self: Task, request_id: str) -> dict[str, Any]:
        svc = service()
        try:
            return {"state": send_clip_request(svc, request_id)}
        except (WitnessQuorumError, AuditError, DispatchError) as exc:
            if self.request.retries >= CLIP_SEND_ATTEMPTS - 1:
                reason = ("broker_unavailable" if isinstance(exc, DispatchError)
                          else "unwitnessed")
                fail(svc, request_id, reason, f"{exc}, after {CLIP_SEND_ATTEMPTS} tries")
                return {"state": "failed"}
            raise self.retry(countdown=min(30, 2 ** self.request.retries)) from None

    @app.task(shared=False, name=CLIP_TASK)
    def clip(message: dict[str, Any]) -> dict[str, Any]:
        """A clip's frame or the node's refusal to send the clip (on LIVE_QUEUE)."""
        svc = service()
        try:
            taken = accept_clip(svc, message)
        except ReportRejected as exc:
            return refuse(svc, "clip", "evidence_clip_rejected", exc, taken=None)
        counted.batches.labels("clip", "accepted").inc()
        return {"taken": taken}

    @app.task(shared=False, name=DELIVER_TASK, bind=True, max_retries=MAX_ATTEMPTS - 1)
    def webhook(self: Task, delivery_id: int) -> None:
        try:
            deliver(service(), delivery_id)
        except DeliveryFailed as exc:
            if self.request.retries >= MAX_ATTEMPTS - 1:
                if give_up(service(), delivery_id):
                    log.warning("%s; giving up after %d attempts", exc, MAX_ATTEMPTS)
                return
            # when the delivery is due: a task earlier than that does nothing
            raise self.retry(countdown=exc.retry_in if exc.retry_in is not None
                             else min(60, 2 ** self.request.retries)) from None

    # never given up: an alert waits for the broker however long it is away (the outage is
    # logged once, by the publisher, not once per retry)
    @app.task(shared=False, name=PUBLISH_MQTT_TASK, bind=True, max_retries=None)
    def mqtt_publish(self: Task, delivery_id: int) -> None:
        try:
            publish(service(), mqtt(), delivery_id)
        except DeliveryFailed:
            raise self.retry(countdown=mqtt_backoff(self.request.retries)) from None

    # Celery's built-in tasks out (a celery.starmap message ran housekeeping once an item), and
    # messages for unknown tasks or dated far ahead refused and counted (red team 3)
    own_tasks_only(app, lambda name: counted.batches.labels("unknown", "refused").inc())
    bound_tasks(app, ETA_LIMIT_SECONDS,
                lambda name: counted.batches.labels(name, "refused_eta").inc())
    return app
