"""``/webhooks``: outbound webhooks for signage and IoT (admin); the use cases are in
``coordinator.services.webhooks``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from coordinator.auth import Principal, require, service
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services import webhooks
from coordinator.services.requests import NewWebhook

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("", status_code=201, summary="Add a webhook (admin); the secret is shown once")
def add(body: NewWebhook, who: Principal = Depends(require(Permission.WEBHOOK_MANAGE)),
        svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return webhooks.add(svc, who, body)


@router.get("", summary="The webhooks (admin)")
def list_hooks(_: Principal = Depends(require(Permission.WEBHOOK_MANAGE)),
               svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return webhooks.listed(svc)


@router.get("/{webhook_id}/deliveries", summary="A webhook's deliveries, newest first")
def deliveries(webhook_id: str, _: Principal = Depends(require(Permission.WEBHOOK_MANAGE)),
               svc: Coordinator = Depends(service)) -> dict[str, Any]:
    return webhooks.deliveries(svc, webhook_id)


@router.delete("/{webhook_id}", status_code=204, summary="Stop a webhook (admin)")
def remove(webhook_id: str, who: Principal = Depends(require(Permission.WEBHOOK_MANAGE)),
           svc: Coordinator = Depends(service)) -> None:
    webhooks.remove(svc, who, webhook_id)
