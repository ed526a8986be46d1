"""The public transparency portal (no login): what the city's cameras are, what the log says was
done with them, and a page where a citizen's own browser verifies it."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import select

from audit.records import Action
from contract.notices import CameraNotice
from coordinator.auth import service
from coordinator.db import Node, PublishedReport
from coordinator.service import Coordinator
from coordinator.services.aggregates import budgets as node_budgets
from coordinator.web import event_words
from coordinator.web.charts import chart_or_number
from coordinator.web.event_words import words
from coordinator.web.offline_check import recompute_report, verify_log, witness_keys
from coordinator.web.published import FORMAT, Published, publish
from coordinator.web.templates import PAGE_HEADERS, render

router = APIRouter(tags=["pages"], include_in_schema=False)


def _totals(by_month: dict[str, dict[str, int]], table: dict[str, str] | None = None
            ) -> list[tuple[str, int]]:
    """All months summed, each key in words where ``table`` names it."""
    total: Counter[str] = Counter()
    for counts in by_month.values():
        total.update(counts)
    return [(words(key, table) if table is not None else key, n)
            for key, n in sorted(total.items())]


def _practices(cameras: list[dict[str, Any]]) -> dict[str, Any]:
    """What the active cameras detect and never do, and how long each site keeps what, as
    their notices state it (the union over cameras; retention as the range over a site's)."""
    active = [c for c in cameras if c["active"] and c["stated"]]
    detects = sorted({d for c in active for d in c["notice"].detects})
    never = sorted({n for c in active for n in c["notice"].never})
    kept: dict[str, dict[str, list[int]]] = {}
    for c in active:
        for kind, days in c["notice"].retention_days.items():
            kept.setdefault(c["site"], {}).setdefault(kind.replace("_", " "), []).append(days)
    retention = {site: {kind: (f"{min(d)}" if min(d) == max(d) else f"{min(d)} to {max(d)}")
                        for kind, d in kinds.items()} for site, kinds in sorted(kept.items())}
    return {"detects": detects, "never": never, "retention": retention,
            "cameras": sum(1 for c in cameras if c["active"]),
            "sites": len({c["site"] for c in cameras if c["active"]})}


def _cameras(svc: Coordinator) -> list[dict[str, Any]]:
    """Every enrolled camera with the public notice its node stated (or none stated)."""
    out = []
    with svc.session() as session:
        for node in session.scalars(select(Node).order_by(Node.site_id, Node.node_id)):
            stated = {n["camera"]: n for n in node.camera_notices or ()}
            for camera in node.cameras:
                notice = CameraNotice.model_validate(stated.get(camera, {"camera": camera}))
                out.append({"site": node.site_id, "active": node.active, "notice": notice,
                            "stated": camera in stated})
    return out


@router.get("/")
def home() -> Response:
    return RedirectResponse("/portal", status_code=303)


def _published(svc: Coordinator) -> tuple[Published, bool]:
    """The report the housekeeping job stored last (and True); computed now only where none is
    stored yet (a city without a beat, a new log)."""
    with svc.session() as session:
        stored = session.get(PublishedReport, 1)
        body = stored.body if stored is not None else None
    if body is None or body.get("format") != FORMAT:  # none yet, or stored by an older release
        return publish(svc.audit, svc.clock()), False
    return Published.from_json(body), True


@router.get("/portal")
def portal(request: Request, svc: Coordinator = Depends(service)) -> Response:
    published, stored = _published(svc)
    report = published.report
    budgets = report["privacy_budget_spent"]
    charts = {
        "searches": chart_or_number(
            "Searches by purpose", _totals(report["searches_by_purpose"]),
            "Warrant- or consent-gated searches sent to sites, by purpose code (all months). "
            "The table below gives the same figures by month."),
        "warrants": chart_or_number(
            "Warrant decisions", _totals(report["warrants_by_month"], event_words.ACTIONS),
            "Warrant decisions over all months."),
        "hits": chart_or_number(
            "Hits returned by purpose", _totals(report["hits_by_purpose"]),
            "Matches sites returned to searches, by purpose (only matches are ever returned)."),
        "budget": chart_or_number(
            "Privacy budget spent per site (epsilon)",
            [(site, round(kinds.get("total", 0.0), 4)) for site, kinds in budgets.items()],
            "Total epsilon spent per site on trainings and planners' statistics."),
    }
    decisions = dict(_totals(report["warrants_by_month"]))
    seconds = svc.settings.housekeeping_seconds
    every = (f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds} s") if stored else None
    cameras = _cameras(svc)
    base, log_key = str(request.base_url), published.log_key
    return render(request, "portal.html", report=report, charts=charts,
                  computed_at=published.computed_at, every=every,
                  cameras=cameras, practices=_practices(cameras), problems=published.problems,
                  disclosures=_totals(report["disclosures_by_recipient"]),
                  declined=decisions.get(Action.WARRANT_DECLINED.value, 0),
                  stopped=decisions.get(Action.WARRANT_REFUSED.value, 0),
                  reasons=_totals(report.get("refusals_by_reason", {}), event_words.REFUSALS),
                  words=event_words, settings=svc.settings, node_budgets=node_budgets(svc),
                  offline=(recompute_report(base, log_key),
                           verify_log(base, log_key, witness_keys(svc.settings))))


@router.get("/portal/report.json")
def report_json(svc: Coordinator = Depends(service)) -> JSONResponse:
    return JSONResponse(_published(svc)[0].to_json(), headers=PAGE_HEADERS)


@router.get("/portal/witnessed")
def witnessed(svc: Coordinator = Depends(service)) -> Response:
    """The log's newest checkpoint that the witnesses' quorum cosigned (as GET
    /audit/checkpoint/witnessed serves it), or 204 No Content where there is none yet: for the
    citizen's page, which must tell "not witnessed yet" apart from an error, and where a 404
    would be reported by the browser as a failed load."""
    # Witnessing is no mapping: keys() is its own method, the witnesses' public keys
    names = [key.name for key in svc.witnessing.keys()]  # noqa: SIM118
    note = svc.audit.newest_witnessed(names, svc.settings.witness_quorum)
    if note is None:
        return Response(status_code=204, headers=PAGE_HEADERS)
    return PlainTextResponse(note.format(), headers=PAGE_HEADERS)


@router.get("/portal/verify")
def verify_page(request: Request, svc: Coordinator = Depends(service)) -> Response:
    log_key, witnesses = svc.audit.signer.verifier.vkey(), witness_keys(svc.settings)
    base = str(request.base_url)
    return render(request, "verify.html", log_key=log_key, witness_keys=witnesses,
                  witness_quorum=svc.settings.witness_quorum,
                  offline=(verify_log(base, log_key, witnesses),
                           recompute_report(base, log_key)))
