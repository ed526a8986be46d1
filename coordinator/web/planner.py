"""The city planner's page: choose the statistic, the sites' cameras (each camera's zones are
answered separately) and the hours, see the epsilon the question will cost each node and what
that node has left before asking, ask, and read the noisy answer with its 95% intervals drawn
as error bars; and the planner's own questions so far.

Asking goes through the same use case as ``POST /aggregates`` (``services.aggregates.ask``):
the same cap, the same audit entry before anything is sent, the same signed request per node.
Reading goes through ``services.aggregates.read`` as ``GET /aggregates/{id}`` does (each
node's answer is checked and its release logged as it is collected). The form is a plain
HTML form: under the session cookie it carries the CSRF token as a field; an API client may
post it with a bearer token instead."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from contract.aggregates import MAX_DELTA, AggregateKind
from contract.warrants import Window
from coordinator import budget_reports
from coordinator.auth import Principal, authenticate, bearer, deny, require, service
from coordinator.browser_session import csrf_matches, session_token
from coordinator.db import Aggregate, AggregateNode, Node
from coordinator.denials import ANONYMOUS
from coordinator.errors import Problem
from coordinator.roles import Permission
from coordinator.service import Coordinator, as_utc
from coordinator.services import aggregates
from coordinator.services.requests import NewAggregate
from coordinator.web import dp_figures
from coordinator.web.charts import interval_chart
from coordinator.web.city_time import local, shown
from coordinator.web.templates import PAGE_HEADERS, render

router = APIRouter(prefix="/planner", tags=["pages"], include_in_schema=False)
PLANNER = Depends(require(Permission.AGGREGATE_QUERY))

STATISTICS = {AggregateKind.ZONE_COUNTS_HOURLY.value: "Visits starting in each zone, per hour",
              AggregateKind.DWELL_HISTOGRAM.value: "Visits per dwell time, in each zone"}
MECHANISMS = {"discrete_laplace": "discrete Laplace", "discrete_gaussian": "discrete Gaussian"}
HISTORY = 50


def _nodes(svc: Coordinator) -> list[tuple[str, str, list[str]]]:
    with svc.session() as session:
        return [(n.node_id, n.site_id, list(n.cameras)) for n in session.scalars(
            select(Node).where(Node.active).order_by(Node.site_id, Node.node_id))]


def _lefts(svc: Coordinator, nodes: list[str]) -> dict[str, dp_figures.Left]:
    """Each node's budget left, from the answers the coordinator holds (any planner's: the
    budget is the node's, not the planner's), as an estimate at the coordinator's clock."""
    with svc.session() as session:  # its newest report only: one row per node
        rows = budget_reports.newest(session, nodes)
    answers = [{"node_id": r.node_id, "query_id": r.query_id,
                "answered_at": as_utc(r.answered_at) if r.answered_at else None,
                "result": (r.result or {}).get("result")} for r in rows.values()]
    now = svc.clock()
    return {n: dp_figures.remaining(n, answers, now) for n in nodes}


def _float(value: str, name: str, default: float) -> float:
    try:
        number = float(value) if value.strip() else default
    except ValueError:
        raise ValueError(f"{name}: {value[:20]!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}: {value[:20]!r} is not a number")
    return number


def _costs(svc: Coordinator, sites: list[str], cameras: list[str], epsilon: float,
           delta: float) -> list[dp_figures.Cost]:
    nodes = _nodes(svc)
    return dp_figures.costs(nodes, sites or None, cameras or None, epsilon, delta,
                            _lefts(svc, [n for n, _, _ in nodes]))


def _history(svc: Coordinator, who: Principal) -> list[dict[str, Any]]:
    zone = svc.settings.time_zone
    with svc.session() as session:
        asked = session.scalars(select(Aggregate).where(Aggregate.requested_by == who.username)
                                .order_by(Aggregate.created_at.desc()).limit(HISTORY)).all()
        parts: dict[str, list[str]] = defaultdict(list)
        for query_id, status in session.execute(
                select(AggregateNode.query_id, AggregateNode.status)
                .where(AggregateNode.query_id.in_([a.query_id for a in asked]))).all():
            parts[query_id].append(status)
    return [{"query_id": a.query_id, "asked": shown(a.created_at, zone),
             "asked_at": local(a.created_at, zone).isoformat(timespec="seconds"),
             "statistic": STATISTICS.get(a.kind, a.kind),
             "window": f"{shown(a.window_start, zone)[:16]} to {shown(a.window_end, zone)[:16]}",
             "epsilon": a.epsilon,
             "state": _state(parts[a.query_id])} for a in asked]


def _when(moment: datetime | None, zone: str) -> str | None:
    """A report's time on the city's clock, to the minute."""
    return shown(moment, zone)[:16] if moment else None


def _state(statuses: list[str]) -> str:
    if "pending" in statuses:
        return "waiting for the sites"
    answered = statuses.count("answered")
    return f"answered by {answered} of {len(statuses)} sites"


def _defaults(svc: Coordinator) -> dict[str, Any]:
    today = local(svc.clock(), svc.settings.time_zone).date()
    return {"kind": AggregateKind.ZONE_COUNTS_HOURLY.value,
            "sites": sorted({site for _, site, _ in _nodes(svc)}), "cameras": [],
            "start_day": (today - timedelta(days=1)).isoformat(), "start_hour": 0,
            "end_day": today.isoformat(), "end_hour": 0,
            "epsilon": min(0.5, svc.settings.max_aggregate_epsilon), "delta": 0.0}


def _page(request: Request, svc: Coordinator, who: Principal, form: dict[str, Any],
          error: str | None = None, status: int = 200) -> Response:
    nodes = _nodes(svc)
    return render(request, "planner.html", status=status, who=who, form=form, error=error,
                  statistics=STATISTICS, sites=sorted({s for _, s, _ in nodes}),
                  cameras=sorted({c for _, _, cams in nodes for c in cams}),
                  costs=_costs(svc, form["sites"], form["cameras"], form["epsilon"],
                               form["delta"]),
                  cap=svc.settings.max_aggregate_epsilon, max_delta=MAX_DELTA,
                  zone=svc.settings.time_zone, history=_history(svc, who),
                  when=lambda moment: _when(moment, svc.settings.time_zone),
                  half_width=dp_figures.expected_half_width(form["epsilon"], form["delta"]))


@router.get("")
def planner(request: Request, who: Principal = PLANNER,
            svc: Coordinator = Depends(service)) -> Response:
    return _page(request, svc, who, _defaults(svc))


@router.get("/cost")
def cost(epsilon: str = Query("", max_length=32), delta: str = Query("", max_length=32),
         sites: list[str] = Query([], max_length=1024),
         cameras: list[str] = Query([], max_length=1024), _: Principal = PLANNER,
         svc: Coordinator = Depends(service)) -> Response:
    """What the question would cost each node, as the page's cost table shows it (the page's
    script asks again as the form changes)."""
    try:
        eps, dlt = _float(epsilon, "epsilon", 0.0), _float(delta, "delta", 0.0)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422, headers=PAGE_HEADERS)
    cap = svc.settings.max_aggregate_epsilon
    rows = [{"node_id": c.node_id, "site_id": c.site_id, "cameras": list(c.cameras),
             "epsilon": c.epsilon, "delta": c.delta, "left": c.left.epsilon,
             "reported_at": c.left.reported_at.isoformat() if c.left.reported_at else None,
             "reported": _when(c.left.reported_at, svc.settings.time_zone),
             "period": c.left.period_words, "renewed": c.left.renewed,
             "lifetime_left": c.left.lifetime_left, "after": c.after, "verdict": c.verdict}
            for c in _costs(svc, sites, cameras, eps, dlt)]
    return JSONResponse({"cap": cap, "over_cap": eps > cap, "nodes": rows,
                         "half_width": dp_figures.expected_half_width(eps, dlt)},
                        headers=PAGE_HEADERS)


def _asker(request: Request, token: str | None, csrf: str, svc: Coordinator) -> Principal:
    """The planner posting the form: a bearer token, or the session cookie with the form's
    CSRF token (the cookie alone rides along on any site's request)."""
    if not token and session_token(request):
        if not csrf_matches(request, csrf):
            raise deny(svc, request, ANONYMOUS, 403, "csrf",
                       "a form sent with the session cookie must carry its CSRF token")
        token = session_token(request)
    who = authenticate(request, token, svc)
    return require(Permission.AGGREGATE_QUERY)(request, who, svc)


@router.post("/questions")
def ask(request: Request, kind: str = Form("", max_length=40),
        sites: list[str] = Form([], max_length=1024),
        cameras: list[str] = Form([], max_length=1024),
        start_day: str = Form("", max_length=10), start_hour: int = Form(0, ge=0, le=23),
        end_day: str = Form("", max_length=10), end_hour: int = Form(0, ge=0, le=23),
        epsilon: str = Form("", max_length=32), delta: str = Form("", max_length=32),
        csrf: str = Form("", max_length=128), token: str | None = Depends(bearer),
        svc: Coordinator = Depends(service)) -> Response:
    who = _asker(request, token, csrf, svc)
    form: dict[str, Any] = {"kind": kind, "sites": sites, "cameras": cameras,
                            "start_day": start_day, "start_hour": start_hour,
                            "end_day": end_day, "end_hour": end_hour,
                            "epsilon": 0.0, "delta": 0.0}
    try:
        form["epsilon"] = _float(epsilon, "epsilon", 0.0)
        form["delta"] = _float(delta, "delta", 0.0)
        if kind not in STATISTICS:
            raise ValueError("choose a statistic")
        start, end = dp_figures.window_of(start_day, start_hour, end_day, end_hour,
                                          svc.settings.time_zone)
        body = NewAggregate(kind=AggregateKind(kind), window=Window(start=start, end=end),
                            epsilon=form["epsilon"], delta=form["delta"],
                            sites=sorted(sites) or None, cameras=sorted(cameras) or None)
    except ValueError as exc:  # pydantic's ValidationError is one
        return _page(request, svc, who, form, _reason(exc), 422)
    try:
        view = aggregates.ask(svc, who, body)
    except Problem as problem:
        return _page(request, svc, who, form, problem.detail, problem.status)
    return RedirectResponse(f"/planner/questions/{view['query_id']}", status_code=303)


def _reason(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)


def _label(bucket: str, kind: str, zone: str, days: int) -> str:
    if kind != AggregateKind.ZONE_COUNTS_HOURLY.value:
        return bucket
    moment = local(datetime.fromisoformat(bucket), zone)
    return moment.strftime("%m-%d %H:00" if days > 1 else "%H:00")


def answer_view(view: dict[str, Any], zone: str) -> dict[str, Any]:
    """The API's view of a question made into what the page draws: per answering node, its
    mechanism and stated scale, the interval's half-width that follows from them, and one
    series per camera and zone (each cell with its interval) with its chart."""
    start = datetime.fromisoformat(view["window"]["start"])
    end = datetime.fromisoformat(view["window"]["end"])
    days = (local(end - timedelta(seconds=1), zone).date() - local(start, zone).date()).days + 1
    nodes = []
    for node in view["nodes"]:
        entry = {**node, "series": [], "half_width": None,
                 "mechanism_words": MECHANISMS.get(node.get("mechanism") or "")}
        if node["status"] == "answered" and node.get("mechanism") and node.get("noise_scale"):
            k = dp_figures.half_width(node["mechanism"], float(node["noise_scale"]))
            entry["half_width"] = k
            entry["scale_words"] = f"{float(node['noise_scale']):g}"
            grouped: dict[tuple[str, str], list[dp_figures.Point]] = defaultdict(list)
            for cell in node["cells"]:
                grouped[(cell["camera"], cell["zone"])].append(dp_figures.point(
                    _label(cell["bucket"], view["kind"], zone, days), cell["value"], k))
            for (camera, zone_id), points in sorted(grouped.items()):
                title = f"{node['site_id']}, camera {camera}, zone {zone_id}"
                entry["series"].append({
                    "title": title, "points": points,
                    "chart": interval_chart(f"{STATISTICS.get(view['kind'], view['kind'])}: "
                                            f"{title}", [(p.label, p.value, p.low, p.high)
                                                         for p in points])})
        nodes.append(entry)
    return {**view, "statistic": STATISTICS.get(view["kind"], view["kind"]), "nodes": nodes,
            "window_words": f"{shown(start, zone)[:16]} to {shown(end, zone)[:16]}",
            "hourly": view["kind"] == AggregateKind.ZONE_COUNTS_HOURLY.value}


@router.get("/questions/{query_id}")
def question(query_id: str, request: Request,
             who: Principal = Depends(require(Permission.AGGREGATE_READ)),
             svc: Coordinator = Depends(service)) -> Response:
    view = aggregates.read(svc, who, query_id[:64], 0)  # a planner sees only their own
    return render(request, "aggregate.html", who=who, question=answer_view(
        view, svc.settings.time_zone), zone=svc.settings.time_zone, level=dp_figures.LEVEL)
