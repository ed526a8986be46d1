"""The public transparency portal (no login): what the city's cameras are, what the log says was
done with them, and a page where a citizen's own browser verifies it."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import select

from audit.cosignature import CosignerKey
from contract.notices import CameraNotice
from coordinator.auth import service
from coordinator.db import Node, PublishedReport
from coordinator.service import Coordinator
from coordinator.web.charts import bar_chart
from coordinator.web.published import Published, publish
from coordinator.web.templates import PAGE_HEADERS, render

router = APIRouter(tags=["pages"], include_in_schema=False)


def _totals(by_month: dict[str, dict[str, int]]) -> list[tuple[str, int]]:
    total: Counter[str] = Counter()
    for counts in by_month.values():
        total.update(counts)
    return sorted(total.items())


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
    if body is None:
        return publish(svc.audit, svc.clock()), False
    return Published.from_json(body), True


@router.get("/portal")
def portal(request: Request, svc: Coordinator = Depends(service)) -> Response:
    published, stored = _published(svc)
    report = published.report
    budgets = report["privacy_budget_spent"]
    charts = {
        "searches": bar_chart("Searches by purpose", _totals(report["searches_by_purpose"])),
        "warrants": bar_chart("Warrant decisions", _totals(report["warrants_by_month"])),
        "hits": bar_chart("Hits returned by purpose", _totals(report["hits_by_purpose"])),
        "budget": bar_chart("Privacy budget spent per site (epsilon)",
                            [(site, round(kinds.get("total", 0.0), 4))
                             for site, kinds in budgets.items()]),
    }
    seconds = svc.settings.housekeeping_seconds
    every = (f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds} s") if stored else None
    return render(request, "portal.html", report=report, charts=charts,
                  computed_at=published.computed_at, every=every,
                  cameras=_cameras(svc), problems=published.problems,
                  disclosures=_totals(report["disclosures_by_recipient"]))


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


def witness_keys(svc: Coordinator) -> list[str]:
    """The cosigner keys (c2sp.org/tlog-cosignature) of the witnesses this coordinator names in
    its ``witnesses`` setting, for the citizen's browser to check their cosignatures; none where
    the city configures no witness."""
    return [CosignerKey.from_vkey(w.key).vkey() for w in svc.settings.witnesses]


@router.get("/portal/verify")
def verify_page(request: Request, svc: Coordinator = Depends(service)) -> Response:
    return render(request, "verify.html", log_key=svc.audit.signer.verifier.vkey(),
                  witness_keys=witness_keys(svc), witness_quorum=svc.settings.witness_quorum)
