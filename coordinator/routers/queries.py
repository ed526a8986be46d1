"""``/queries``: watchlist queries under a registered warrant or consent (the use cases are in
``coordinator.services.queries``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi import Query as QueryParam

from coordinator.auth import Principal, require, service
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services import queries
from coordinator.services.fan_out import MAX_WAIT
from coordinator.services.requests import Decision, NewQuery

router = APIRouter(prefix="/queries", tags=["queries"])


@router.post("", status_code=202, summary="Submit a watchlist query (police)")
def submit(body: NewQuery, response: Response,
           who: Principal = Depends(require(Permission.QUERY_SUBMIT)),
           svc: Coordinator = Depends(service)) -> dict[str, Any]:
    view = queries.submit(svc, who, body)
    response.headers["Location"] = f"/queries/{view['query_id']}"
    return view


@router.post("/{query_id}/hits/{node_id}/{sighting_id}/confirmations", status_code=201,
             summary="Confirm or reject a face match (two different people must confirm)")
def confirm(query_id: str, node_id: str, sighting_id: str, body: Decision,
            who: Principal = Depends(require(Permission.MATCH_CONFIRM)),
            svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return queries.confirm(svc, who, query_id, node_id, sighting_id, body.decision)


@router.get("/{query_id}", summary="A query's per-node status and, for its requester, the hits")
def get_query(query_id: str, wait: float = QueryParam(0, ge=0, le=MAX_WAIT),
              who: Principal = Depends(require(Permission.QUERY_READ)),
              svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return queries.read(svc, who, query_id, wait)


@router.get("", summary="Your queries (police), or all (DPO)")
def list_queries(who: Principal = Depends(require(Permission.QUERY_READ)),
                 svc: Coordinator = Depends(service)) -> list[dict[str, Any]]:
    return queries.listed(svc, who)
