"""Taking a node's evidence-export report off the broker into the city's audit log, so that
citizens (the public leaf: warrant, purpose, scope, segment count) and the DPO (the export's id,
hash and recipient, sealed) see every piece of raw video that left a node.

The node decided the export with its own checks; the coordinator records it once it is sure
the report is the enrolled node's, about its own cameras, under a registered evidence-export
warrant whose text the node presented, inside that warrant's scope, and within its uses: an
export is one use in the node's own ledger, so each node reports at most ``max_uses`` exports
under a warrant (``export_uses``, counted under a row lock with the export's row; red team 3:
a rogue node reported 25 exports under a one-use warrant, 25 public entries). Anything else is
refused (``coordinator.worker.refused``): a report the enrolled node signed is one
``access_denied`` entry naming the node, one no enrolled node signed is only counted. A report
that arrives twice is logged once (by export id). The recipient is text the node (its officer)
chose: it is a sealed detail of the entry, never a public field.
"""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.records import Action, Actor, Event, Scope, rfc3339, under
from audit.records import Window as LogWindow
from contract.exports import ExportReport, SignedExportReport
from contract.warrants import Kind, SignedWarrant, WarrantRefused, check_scope, digest
from coordinator.alert_intake import from_enrolled_node
from coordinator.db import EvidenceExport, ExportUses, Node
from coordinator.db import Warrant as WarrantRow
from coordinator.errors import ExportReportRejected, signed_by
from coordinator.node_log_heads import note_log_size
from coordinator.service import Coordinator
from kernel.errors import describe


def _warrant(svc: Coordinator, report: ExportReport) -> SignedWarrant:
    """The registered evidence-export warrant the report names, as the node presented it."""
    with svc.session() as session:
        row = session.get(WarrantRow, report.warrant_id)
    if row is None or row.registered_index is None:
        raise ExportReportRejected(f"{report.warrant_id} is not a registered warrant")
    signed = SignedWarrant.model_validate(row.document)
    if not hmac.compare_digest(digest(signed), report.warrant_sha256):
        raise ExportReportRejected(f"the export names another text of {report.warrant_id}")
    try:
        check_scope(signed.warrant, Kind.EVIDENCE_EXPORT, report.site, list(report.cameras),
                    report.window, [])
    except WarrantRefused as refusal:
        raise ExportReportRejected(f"export outside its warrant: {refusal}") from None
    return signed


def _use(session: Session, report: ExportReport, node_id: str, max_uses: int) -> None:
    """Count one use of the warrant by the node, refusing one past ``max_uses``: the counter
    row is locked until the transaction (which adds the export's row) ends, so a concurrent
    report of the node under the warrant waits and then counts after it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # a write first: SQLite takes its write lock here, before anything is read
    session.execute(dialect.insert(ExportUses).values(
        warrant_id=report.warrant_id, node_id=node_id, uses=0).on_conflict_do_nothing())
    counter = session.get_one(ExportUses, (report.warrant_id, node_id), with_for_update=True)
    if counter.uses >= max_uses:
        raise ExportReportRejected(f"all {max_uses} uses of {report.warrant_id} are already "
                                   "reported by this node")
    counter.uses += 1


def accept_export(svc: Coordinator, message: Any) -> tuple[int, bool]:
    """The audit index of the export's entry, and whether it was logged before."""
    try:
        signed = SignedExportReport.model_validate(message)
    except ValidationError as exc:
        raise ExportReportRejected(f"not an export report: {describe(exc)}") from None
    report = signed.report
    node = from_enrolled_node(svc, report, signed.signature, report.node_id, report.site,
                              set(report.cameras), "export report",
                              ExportReportRejected)
    with signed_by(node.node_id):  # the node's signed report: it is accountable for it
        return _logged(svc, report, node)


def _logged(svc: Coordinator, report: ExportReport, node: Node) -> tuple[int, bool]:
    warrant = _warrant(svc, report).warrant
    if report.log_size is not None:
        note_log_size(svc, node.node_id, report.log_size)
    with svc.session() as session:
        known = session.get(EvidenceExport, report.export_id)
        if known is not None and known.node_id != node.node_id:
            raise ExportReportRejected(f"export {report.export_id} was reported by another node")
        if known is not None and known.warrant_id != report.warrant_id:
            raise ExportReportRejected(f"export {report.export_id} was reported under "
                                       "another warrant")
        if known is not None and known.log_index is not None:
            return known.log_index, True
    if known is None:
        try:
            with svc.session() as session:
                _use(session, report, node.node_id, warrant.max_uses)
                session.add(EvidenceExport(export_id=report.export_id, node_id=node.node_id,
                                           warrant_id=report.warrant_id, log_index=None,
                                           received_at=svc.clock()))
        except IntegrityError:  # a concurrent worker took the same report first (not counted)
            with svc.session() as session:
                index = session.get_one(EvidenceExport, report.export_id).log_index
            return (index if index is not None else -1), True
    index = svc.log(Event(
        actor=Actor(pseudonym=node.node_id, role="node", agency=node.site_id),
        action=Action.EXPORT, outcome="evidence_exported",
        **under(warrant.basis, report.warrant_id), purpose_code=warrant.purpose_code,
        scope=Scope(sites=(report.site,), cameras=report.cameras,
                    window=LogWindow(start=rfc3339(report.window.start),
                                     end=rfc3339(report.window.end))),
        counts_returned=report.segments,  # the recipient is the node's text: sealed
        details={"export_id": report.export_id, "export_sha256": report.export_sha256,
                 "exported_at": rfc3339(report.exported_at), "recipient": report.recipient}))
    with svc.session() as session:
        session.get_one(EvidenceExport, report.export_id).log_index = index
    return index, False
