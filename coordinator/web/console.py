"""The DPO console: the audit trail with filters, one entry with its details and inclusion
proof, what waits for the DPO's approval, the privacy budget, and the Art. 30 record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from audit.errors import AuditError
from audit.records import Action, LegalBasis
from audit.routes import Index
from coordinator.auth import Principal, require, service
from coordinator.db import Confirmation, Warrant
from coordinator.errors import invalid, not_found
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services.aggregates import budgets as node_budgets
from coordinator.web import offline_check, processing_facts, record_of_processing
from coordinator.web.charts import bar_chart
from coordinator.web.offline_check import witness_keys
from coordinator.web.published import publish
from coordinator.web.templates import PAGE_HEADERS, render
from coordinator.web.trail import TrailFilter, check_entry, pseudonyms, search
from kernel.errors import VerificationError

router = APIRouter(prefix="/console", tags=["pages"], include_in_schema=False)
DPO = Depends(require(Permission.AUDIT_REVIEW))


def _day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise invalid(f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD)") from None


def _case_documents(svc: Coordinator, case: str) -> frozenset[str]:
    with svc.session() as session:
        return frozenset(session.scalars(select(Warrant.warrant_id)
                                         .where(Warrant.case_number == case)))


@router.get("")
def trail(request: Request, actor: str = Query("", max_length=200),
          action: str = Query("", max_length=40), legal_basis: str = Query("", max_length=20),
          case: str = Query("", max_length=128), since: str = Query("", max_length=10),
          until: str = Query("", max_length=10), who: Principal = DPO,
          svc: Coordinator = Depends(service)) -> Response:
    if action and action not in {a.value for a in Action}:
        raise invalid(f"action: {action[:40]!r} is not an audit action")
    if legal_basis and legal_basis not in {b.value for b in LegalBasis}:
        raise invalid(f"legal_basis: {legal_basis[:20]!r} is not a legal basis")
    end = _day(until, "until")
    wanted = TrailFilter(
        actors=pseudonyms(actor.split(","), svc.keys.pseudonym), action=action or None,
        legal_basis=legal_basis or None,
        documents=_case_documents(svc, case.strip()) if case.strip() else None,
        since=_day(since, "since"), until=end + timedelta(days=1) if end else None)
    found = search(svc.audit, wanted)
    return render(request, "console.html", who=who, found=found,
                  actions=[a.value for a in Action], bases=[b.value for b in LegalBasis],
                  form={"actor": actor, "action": action, "legal_basis": legal_basis,
                        "case": case, "since": since, "until": until})


@router.get("/entries/{index}")
def entry(index: Index, request: Request, who: Principal = DPO,
          svc: Coordinator = Depends(service)) -> Response:
    try:
        item = svc.audit.entry(index)
    except AuditError:
        raise not_found(f"audit entry {index}") from None
    try:
        details: dict[str, Any] = {k: v.decode("utf-8", "replace")
                                   for k, v in svc.audit.details(index).items()}
        details_problem = None
    except VerificationError as exc:
        details, details_problem = {}, str(exc)
    offline = offline_check.prove_entry(str(request.base_url), index,
                                        svc.audit.signer.verifier.vkey(),
                                        witness_keys(svc.settings))
    return render(request, "entry.html", who=who, index=index, record=item.record,
                  offline=offline,
                  leaf_hash=item.leaf_hash.hex(), details=details,
                  details_problem=details_problem, integrity=check_entry(svc.audit, index))


def _waiting(svc: Coordinator) -> dict[str, list[dict[str, Any]]]:
    consents, countersign = [], []
    with svc.session() as session:
        for row in session.scalars(select(Warrant).where(Warrant.status == "draft")
                                   .order_by(Warrant.created_at)):
            signed = row.document
            entry = {"warrant_id": row.warrant_id, "kind": row.kind,
                     "case_number": row.case_number, "requested_by": row.requested_by}
            if row.basis == "consent" and not signed.get("dpo"):
                consents.append(entry)
            elif row.kind == "face_watchlist" and signed.get("judge") and not signed.get("dpo"):
                countersign.append(entry)
        decisions: dict[tuple[str, str, str], list[str]] = {}
        for c in session.scalars(select(Confirmation)):
            decisions.setdefault((c.query_id, c.node_id, c.sighting_id), []).append(c.decision)
    matches = [{"query_id": q, "node_id": n, "sighting_id": s}
               for (q, n, s), said in sorted(decisions.items()) if said == ["match"]]
    return {"consents": consents, "countersign": countersign, "matches": matches}


@router.get("/approvals")
def approvals(request: Request, who: Principal = DPO,
              svc: Coordinator = Depends(service)) -> Response:
    return render(request, "approvals.html", who=who, waiting=_waiting(svc))


@router.get("/budgets")
def budgets(request: Request, who: Principal = DPO,
            svc: Coordinator = Depends(service)) -> Response:
    spent = publish(svc.audit).report["privacy_budget_spent"]
    chart = bar_chart("Epsilon spent per site", [(s, round(k.get("total", 0.0), 4))
                                                 for s, k in spent.items()])
    return render(request, "budgets.html", who=who, spent=spent, chart=chart,
                  node_budgets=node_budgets(svc),
                  caps={"training run": svc.settings.max_training_epsilon,
                        "aggregate question": svc.settings.max_aggregate_epsilon})


def _record(svc: Coordinator, month: str | None) -> tuple[list[dict[str, Any]], str, str]:
    if month and not (len(month) == 7 and month[4] == "-" and month.isascii()
                      and month.replace("-", "").isdigit()):
        raise invalid(f"month: {month[:20]!r} is not YYYY-MM")
    published = publish(svc.audit)
    report = published.report
    rows = record_of_processing.rows(report["actions_by_month"],
                                     processing_facts.facts(svc, report),
                                     [month] if month else None)
    checkpoint = f"size {report['checkpoint']['size']}, root {report['checkpoint']['root']}"
    return rows, month or "all months in the log", checkpoint


@router.get("/record-of-processing")
def record_page(request: Request, month: str = Query("", max_length=7), who: Principal = DPO,
                svc: Coordinator = Depends(service)) -> Response:
    rows, period, checkpoint = _record(svc, month or None)
    return render(request, "record.html", who=who, rows=rows, period=period,
                  checkpoint=checkpoint, month=month,
                  responsible=processing_facts.responsible(svc))


@router.get("/record-of-processing.csv")
def record_csv(month: str = Query("", max_length=7), _: Principal = DPO,
               svc: Coordinator = Depends(service)) -> Response:
    rows, _period, _checkpoint = _record(svc, month or None)
    return Response(record_of_processing.to_csv(rows, processing_facts.responsible(svc)),
                    media_type="text/csv; charset=utf-8",
                    headers={**PAGE_HEADERS, "Content-Disposition":
                             'attachment; filename="record-of-processing.csv"'})


@router.get("/record-of-processing.pdf")
def record_pdf(month: str = Query("", max_length=7), _: Principal = DPO,
               svc: Coordinator = Depends(service)) -> Response:
    rows, period, checkpoint = _record(svc, month or None)
    body = record_of_processing.to_pdf(rows, processing_facts.responsible(svc), period,
                                       checkpoint)
    return Response(body, media_type="application/pdf", headers={
        **PAGE_HEADERS, "Content-Disposition": 'attachment; filename="record-of-processing.pdf"'})
