"""Outbound webhooks for signage and IoT (admin). The secret is shown once, at creation;
deliveries are signed with it (Standard Webhooks) and retried by the worker."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from audit.records import Action, Event, LegalBasis
from coordinator.auth import Principal
from coordinator.db import Delivery, Webhook
from coordinator.errors import TargetRefused, invalid, not_found
from coordinator.service import Coordinator, as_utc
from coordinator.services.requests import NewWebhook
from coordinator.webhooks import new_secret, target


def _view(hook: Webhook) -> dict[str, Any]:
    return {"webhook_id": hook.webhook_id, "url": hook.url, "types": hook.types,
            "active": hook.active, "created_by": hook.created_by,
            "created_at": as_utc(hook.created_at).isoformat()}


def add(svc: Coordinator, who: Principal, body: NewWebhook) -> dict[str, Any]:
    """Check the URL, log, then keep the webhook; its view with the secret, shown this once."""
    if body.url.username or body.url.password:
        raise invalid("put no credentials in a webhook URL; deliveries are signed instead")
    try:
        target(svc, str(body.url))  # checked again at each delivery (the name may move)
    except TargetRefused as exc:
        raise invalid(f"webhook URL refused: {exc}", "target_refused") from None
    hook = Webhook(webhook_id=str(uuid.uuid4()), url=str(body.url), types=sorted(set(body.types)),
                   secret=new_secret(), created_by=who.username, created_at=svc.clock(),
                   active=True)
    svc.log(Event(actor=who.actor, action=Action.CONFIG_CHANGE, legal_basis=LegalBasis.STATUTE,
                  outcome="webhook_added",
                  details={"webhook_id": hook.webhook_id, "url": hook.url, "types": hook.types}))
    with svc.session() as session:
        session.add(hook)
        session.flush()
        return {**_view(hook), "secret": hook.secret}


def listed(svc: Coordinator) -> dict[str, Any]:
    with svc.session() as session:
        return {"webhooks": [_view(h) for h in session.scalars(
            select(Webhook).order_by(Webhook.created_at))]}


def deliveries(svc: Coordinator, webhook_id: str) -> dict[str, Any]:
    """A webhook's newest deliveries."""
    with svc.session() as session:
        if session.get(Webhook, webhook_id) is None:
            raise not_found(f"webhook {webhook_id}")
        rows = session.scalars(select(Delivery).where(Delivery.webhook_id == webhook_id)
                               .order_by(Delivery.id.desc()).limit(200)).all()
        return {"deliveries": [
            {"alert_id": d.alert_id, "state": d.state, "attempts": d.attempts,
             "last_error": d.last_error,
             "delivered_at": as_utc(d.delivered_at).isoformat() if d.delivered_at else None}
            for d in rows]}


def remove(svc: Coordinator, who: Principal, webhook_id: str) -> None:
    """Log, then stop an active webhook."""
    with svc.session() as session:
        hook = session.get(Webhook, webhook_id)
        if hook is None or not hook.active:
            raise not_found(f"active webhook {webhook_id}")
    svc.log(Event(actor=who.actor, action=Action.CONFIG_CHANGE, legal_basis=LegalBasis.STATUTE,
                  outcome="webhook_removed", details={"webhook_id": webhook_id}))
    with svc.session() as session:
        session.get_one(Webhook, webhook_id).active = False
