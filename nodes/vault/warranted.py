"""Evidence export under the node's own warrant checks, the same ones a query passes.

Raw video leaves the node only under an evidence-export warrant signed by a judge whose key the
node pinned at enrolment, registered in the city's audit log (its receipt verifies against the
pinned log key), valid now, not revoked at this node, with a use left, and only for cameras and
a window inside the warrant's scope. A refusal is an entry in the node's audit log and spends
nothing; an export is one use, an entry in the node's log, and a signed report queued for the
city's log before the file is handed over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from audit.checkpoint import Checkpoint
from audit.log import AuditLog
from audit.records import Action, Actor, Event, Scope, rfc3339, under
from audit.records import Window as LogWindow
from contract.exports import ExportOrder, ExportReport
from contract.warrants import Kind, Refusal, Warrant, WarrantRefused, check_scope, digest
from kernel.canonical import canonical_json
from nodes.config import NodeSettings
from nodes.enrolment import Enrolment, load_enrolment
from nodes.export_reports import ExportOutbox
from nodes.identity import load_identity
from nodes.query_checks import check_warrant
from nodes.query_ledger import QueryLedger, Start
from nodes.vault.export import export, in_scope
from nodes.vault.site import open_vault
from nodes.witnessed_log import Held, LogHead

# What to do about each refusal, for the one line the operator sees.
FIXES: dict[Refusal, str] = {
    Refusal.UNSIGNED: "have a judge sign the warrant",
    Refusal.MISSING_COUNTERSIGNATURE: "have the DPO countersign the warrant",
    Refusal.UNKNOWN_SIGNER: "use the warrant as signed by a judge this node pinned at enrolment "
                            "(re-enrol the node if a judge's key changed)",
    Refusal.BAD_SIGNATURE: "use the warrant document exactly as the coordinator returned it",
    Refusal.NOT_YET_VALID: "wait until the warrant's not_before time",
    Refusal.EXPIRED: "ask the judge for a new warrant",
    Refusal.REVOKED: "ask the judge for a new warrant",
    Refusal.USED_UP: "every use of the warrant is spent; ask the judge for a new one",
    Refusal.NOT_IN_LOG: "pass the receipt and opening the coordinator returned for this warrant "
                        "(GET /warrants/{warrant_id}/receipt)",
    Refusal.WRONG_KIND: "exports need a warrant of kind evidence_export",
    Refusal.UNWITNESSED: "fetch the receipt again when the city's witnesses have cosigned the "
                         "log (GET /warrants/{warrant_id}/receipt)",
    Refusal.LOG_CONFLICT: "fetch the receipt again for this node (GET /warrants/{warrant_id}/"
                          "receipt?node_id=... or ?held_size= the size named above) and pass "
                          "its log_consistency with --consistency",
    Refusal.LOG_FORK: "do not export: the coordinator's log is not the one this node accepted "
                      "before; tell the DPO",
    Refusal.LOG_ROLLBACK: "do not export: the coordinator's log is not the one this node "
                          "accepted before; tell the DPO",
    Refusal.OUT_OF_SCOPE_SITE: "use a warrant that names this node's site (it names {sites})",
    Refusal.OUT_OF_SCOPE_CAMERA: "export only cameras the warrant names: {cameras}",
    Refusal.OUT_OF_SCOPE_TIME: "export only inside the warrant's window, {start} to {end}",
    Refusal.REPLAYED: "each export order is made once; for another copy, ask the judge for a "
                      "warrant with a use left and make a new order",
}


def fix(refusal: WarrantRefused, order: ExportOrder) -> str:
    """The refusal and what to do about it, on one line (the scope as the warrant states it:
    the officer holds the document already)."""
    hint = FIXES.get(refusal.reason)
    if hint is None:
        return str(refusal)
    warrant = order.request.warrant.warrant
    return f"{refusal}; " + hint.format(
        warrant_id=warrant.warrant_id, sites=", ".join(warrant.sites),
        cameras=", ".join(warrant.cameras),
        start=rfc3339(warrant.window.start), end=rfc3339(warrant.window.end))


@dataclass(frozen=True)
class Exported:
    data: bytes
    report: ExportReport
    uses_left: int


def check_export(order: ExportOrder, enrolment: Enrolment, revoked: tuple[str, str] | None,
                 now: datetime, held: Held | None) -> tuple[Warrant, Checkpoint]:
    """The query checks (signers, validity, revocation, the witnessed log), then the export's
    scope at this node's site. An export names no targets: it is bounded by cameras and window
    alone."""
    request = order.request
    warrant, checkpoint = check_warrant(order, enrolment, revoked, now, held)
    check_scope(warrant, Kind.EVIDENCE_EXPORT, enrolment.site_id, list(request.cameras),
                request.window, [])
    return warrant, checkpoint


def checkpoint_size(head: LogHead) -> int | None:
    held = head.held()
    return held.size if held else None


def _event(order: ExportOrder, enrolment: Enrolment, action: Action, outcome: str, count: int,
           details: dict[str, object]) -> Event:
    request = order.request
    warrant = request.warrant.warrant
    return Event(actor=Actor(pseudonym=enrolment.node_id, role="node", agency=enrolment.site_id),
                 action=action, outcome=outcome, **under(warrant.basis, warrant.warrant_id),
                 purpose_code=warrant.purpose_code, counts_returned=count,
                 scope=Scope(sites=(enrolment.site_id,), cameras=request.cameras,
                             window=LogWindow(start=rfc3339(request.window.start),
                                              end=rfc3339(request.window.end))),
                 recipients=(request.recipient,), details=details)


def _refused(log: AuditLog, order: ExportOrder, enrolment: Enrolment,
             refusal: WarrantRefused) -> None:
    log.append(_event(order, enrolment, Action.WARRANT_REFUSED, refusal.reason.value, 0,
                      {"export_id": order.request.export_id, "reason": str(refusal)}))


def export_under_warrant(settings: NodeSettings, order: ExportOrder, recipient_key: bytes,
                         now: datetime) -> Exported:
    """Check, spend one use, export, queue the report; raise WarrantRefused (logged) else."""
    request = order.request
    warrant_id = request.warrant.warrant.warrant_id
    enrolment = load_enrolment(settings.data_dir)
    identity = load_identity(settings.keys_dir)
    ledger = QueryLedger(settings.stores.query_ledger)
    outbox = ExportOutbox(settings.stores.export_reports)
    order_sha256 = hashlib.sha256(canonical_json(order.model_dump(mode="json"))).hexdigest()
    try:
        with open_vault(settings) as opened:
            try:
                head = LogHead(settings.data_dir, enrolment.log().name)
                with head.locked():
                    warrant, checkpoint = check_export(order, enrolment,
                                                       ledger.revocation(warrant_id), now,
                                                       head.held())
                    head.advance(checkpoint)
                segments = in_scope(opened.vault, list(request.cameras), request.window.start,
                                    request.window.end)
                started = ledger.start(request.export_id, order_sha256, warrant_id,
                                       warrant.max_uses)
                if started.state is Start.ANSWERED:
                    # found by the red team: the same order again spent no use and, but for the
                    # outbox's unique key, exported once more (to any recipient, unreported)
                    raise WarrantRefused(Refusal.REPLAYED,
                                         f"export {request.export_id} was already made")
            except WarrantRefused as refusal:
                _refused(opened.log, order, enrolment, refusal)
                raise
            data = export(opened.vault, list(request.cameras), request.window.start,
                          request.window.end, warrant_id, recipient_key, request.recipient,
                          opened.signer, details={"export_id": request.export_id})
            report = ExportReport(
                export_id=request.export_id, node_id=enrolment.node_id, site=enrolment.site_id,
                warrant_id=warrant_id, warrant_sha256=digest(request.warrant),
                cameras=request.cameras, window=request.window, segments=len(segments),
                recipient=request.recipient, export_sha256=hashlib.sha256(data).hexdigest(),
                exported_at=now, log_size=checkpoint_size(head))
            outbox.add(report, identity.signing)
            ledger.record_answer(request.export_id, order_sha256, warrant_id,
                                 json.dumps({"exported": report.export_sha256}))
            uses_left = warrant.max_uses - ledger.uses(warrant_id)
    finally:
        outbox.close()
        ledger.close()
    return Exported(data, report, uses_left)
