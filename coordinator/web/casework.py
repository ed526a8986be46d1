"""Casework pages: police analysts draft a warrant with its legal basis and, once it is
registered, search under it; judges read the scope in words (plates in plain, a face search's
reference images), confirm it and sign (in the browser with their own key, which never leaves
it, or by uploading what `safecity warrant sign` wrote), or decline with a reason. The pages'
scripts call the same API routes, with the same role checks, as any other client."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from contract.warrants import SignedWarrant
from coordinator.auth import Principal, require, service
from coordinator.db import Node, Query
from coordinator.db import Warrant as WarrantRow
from coordinator.roles import Permission, Role, allows
from coordinator.service import Coordinator, as_utc
from coordinator.services.warrants import asks, view, visible_to
from coordinator.web.templates import render
from coordinator.web.warrant_scope import scope_of

router = APIRouter(prefix="/casework", tags=["pages"], include_in_schema=False)


@router.get("")
def casework(request: Request, who: Principal = Depends(require(Permission.WARRANT_READ)),
             svc: Coordinator = Depends(service)) -> Response:
    with svc.session() as session:
        rows = select(WarrantRow).order_by(WarrantRow.created_at.desc()).limit(200)
        if who.role == Role.POLICE:
            rows = rows.where(WarrantRow.requested_by == who.username)
        warrants = [view(r) for r in session.scalars(rows)]
        queries = select(Query).order_by(Query.created_at.desc()).limit(50)
        if who.role == Role.POLICE:
            queries = queries.where(Query.requested_by == who.username)
        searches = [{"query_id": q.query_id, "warrant_id": q.warrant_id, "kind": q.kind,
                     "created_at": as_utc(q.created_at).isoformat()}
                    for q in session.scalars(queries)] \
            if allows(who.role, Permission.QUERY_READ) else []
    return render(request, "casework.html", who=who, warrants=warrants, searches=searches,
                  can_draft=allows(who.role, Permission.WARRANT_DRAFT))


@router.get("/new")
def new_warrant(request: Request, who: Principal = Depends(require(Permission.WARRANT_DRAFT)),
                svc: Coordinator = Depends(service)) -> Response:
    with svc.session() as session:
        nodes = session.scalars(select(Node).where(Node.active).order_by(Node.site_id)).all()
        sites = sorted({n.site_id for n in nodes})
        cameras = sorted({c for n in nodes for c in n.cameras})
    return render(request, "draft.html", who=who, sites=sites, cameras=cameras)


@router.get("/warrants/{warrant_id}")
def warrant_page(warrant_id: str, request: Request,
                 who: Principal = Depends(require(Permission.WARRANT_READ)),
                 svc: Coordinator = Depends(service)) -> Response:
    with svc.session() as session:
        warrant = view(visible_to(session.get(WarrantRow, warrant_id), who, warrant_id),
                       plain=True)
    return render(request, "warrant.html", who=who, warrant=warrant, scope=scope_of(warrant),
                  sign_as=signature_wanted(warrant, who),
                  can_search=allows(who.role, Permission.QUERY_SUBMIT))


def signature_wanted(warrant: dict[str, Any], who: Principal) -> str | None:
    """The signature this person may add to this draft: the judge's, or the DPO's (a consent,
    or a face search's countersignature)."""
    if warrant["status"] != "draft":
        return None
    signed = SignedWarrant.model_validate(warrant["document"])
    for role, permission in (("judge", Permission.WARRANT_SIGN),
                             ("dpo", Permission.WARRANT_COUNTERSIGN)):
        if allows(who.role, permission) and asks(signed, role):
            return role
    return None


@router.get("/queries/{query_id}")
def query_page(query_id: str, request: Request,
               who: Principal = Depends(require(Permission.QUERY_READ))) -> Response:
    # the page's script reads /queries/{id} (the API checks that the caller may see it)
    return render(request, "query.html", who=who, query_id=query_id)
