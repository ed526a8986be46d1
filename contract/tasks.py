"""Every Celery task and queue name of the platform, in one place: both sides import them from
here, so a name can never differ between the sender and the worker that takes it.

A name is part of the wire contract: a message sent under an old name is never taken by a worker
that knows only a new one, so renaming one needs both sides upgraded together.
"""

from __future__ import annotations

# --- to a node, on its own queue (``queue_name``) -------------------------------------------
QUERY_TASK = "safecity.node.query"
REVOCATION_TASK = "safecity.node.revoke"
AGGREGATE_TASK = "safecity.node.aggregate"
PIN_TASK = "safecity.node.pins"
MODEL_TASK = "safecity.node.model"
CLIP_REQUEST_TASK = "safecity.node.evidence_clip"  # contract.evidence_clips.SignedClipRequest


def queue_name(node_id: str) -> str:
    """The queue a node takes its messages from; it is pinned in the node's enrolment."""
    return f"node.{node_id}"


# --- to the coordinator's worker ----------------------------------------------------------------
EVENTS_TASK = "safecity.coordinator.events"
EXPORT_REPORT_TASK = "safecity.coordinator.export_report"
SNAPSHOT_TASK = "safecity.coordinator.snapshot"
EVIDENCE_TASK = "safecity.coordinator.evidence"
# a clip's frames (SignedClipFrame) or its refusal (SignedClipRefusal), on LIVE_QUEUE
CLIP_TASK = "safecity.coordinator.evidence_clip"
EVENTS_QUEUE = "coordinator.events"  # also carries export reports and housekeeping
# a queue of their own (live views and alerts' evidence), so alerts never wait behind pictures
LIVE_QUEUE = "coordinator.live"

# --- the coordinator's own work ------------------------------------------------------------------
HOUSEKEEPING_TASK = "safecity.coordinator.housekeeping"
DELIVER_TASK = "safecity.coordinator.deliver_webhook"
PUBLISH_MQTT_TASK = "safecity.coordinator.publish_mqtt"
# an operator's logged clip request: get its receipt, sign it, send it (on LIVE_QUEUE)
SEND_CLIP_REQUEST_TASK = "safecity.coordinator.send_evidence_clip_request"
WEBHOOKS_QUEUE = "coordinator.webhooks"  # also carries MQTT publications
