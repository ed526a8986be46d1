"""``/nodes``: enrolling camera-site nodes and the document each node pins (the use cases are
in ``coordinator.services.nodes``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from coordinator.auth import Principal, require, service
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services import nodes
from coordinator.services.requests import NewNode

router = APIRouter(prefix="/nodes", tags=["nodes"])


@router.post("", status_code=201, summary="Enrol a node; returns the document it pins")
def enrol(body: NewNode, who: Principal = Depends(require(Permission.NODE_ENROL)),
          svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return nodes.enrol(svc, who, body)


@router.get("", summary="Enrolled nodes")
def list_nodes(_: Principal = Depends(require(Permission.NODE_LIST)),
               svc: Coordinator = Depends(service)) -> list[dict[str, Any]]:
    return nodes.listed(svc)


@router.get("/{node_id}/enrolment", summary="The enrolment document of a node")
def enrolment(node_id: str, _: Principal = Depends(require(Permission.NODE_ENROL)),
              svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return nodes.enrolment(svc, node_id)
