"""``/delivery-status``: whether the actions that leave the coordinator (MQTT messages, webhooks)
are getting through, for the control room's operators; the use case is in
``coordinator.services.delivery_status``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from coordinator.auth import Principal, require, service
from coordinator.roles import Permission
from coordinator.service import Coordinator
from coordinator.services import delivery_status
from coordinator.services.delivery_status import DeliveryStatus

router = APIRouter(prefix="/delivery-status", tags=["delivery status"])


@router.get("", summary="Whether alerts' actions reach the MQTT broker and the webhooks: each "
            "channel in trouble, with a message for the operator")
def current(_: Principal = Depends(require(Permission.ALERT_READ)),
            svc: Coordinator = Depends(service)) -> DeliveryStatus:
    return delivery_status.status(svc)
