"""Outbound webhooks for signage and IoT, signed as the Standard Webhooks specification says
(https://www.standardwebhooks.com/): headers ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with a ``whsec_`` secret.

Each delivery resolves the receiver's name once, checks every address again (``outbound``) and
connects to the checked address, keeping the name for the Host header, TLS SNI and certificate
checks. The admin sees only "delivery failed" or the receiver's HTTP status: connection errors
would make the delivery log a port scanner; they go to the coordinator's debug log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from math import ceil
from typing import Any

import httpx
from sqlalchemy import update

from coordinator.alert_intake import alert_view
from coordinator.db import Alert, Delivery, Webhook
from coordinator.delivery_claims import claim, free, retry_delay, settle
from coordinator.errors import DeliveryFailed, TargetRefused
from coordinator.finite_json import finite_dumps
from coordinator.outbound import Target, check
from coordinator.service import Coordinator

log = logging.getLogger(__name__)
PREFIX = "whsec_"
FAILED = "delivery failed"
TOLERANCE_SECONDS = 300
Post = Callable[..., httpx.Response]



def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> bool:
    """What a receiver checks (constant-time compare; a timestamp too far off is refused)."""
    try:
        message_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, message_id, timestamp, body).encode()
    return any(hmac.compare_digest(expected, given.encode())
               for given in headers.get("webhook-signature", "").split())


def target(svc: Coordinator, url: str) -> Target:
    """Where ``url`` may be reached now (resolved once, every address checked)."""
    parsed = httpx.URL(url)
    return check(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80),
                 svc.settings.webhook_allowed_networks, svc.resolve)


def pinned(url: str, to: Target) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The request to ``url`` sent to the checked address: the URL with the address for host,
    the Host header (RFC 9110 7.2) and the TLS server name (RFC 6066 SNI, also the name the
    certificate is checked against) from the original URL."""
    parsed = httpx.URL(url)
    extensions = {"sni_hostname": to.host} if parsed.scheme == "https" else {}
    return (parsed.copy_with(host=str(to.address)),
            {"host": parsed.netloc.decode("ascii")}, extensions)


def post_direct(url: httpx.URL, **kwargs: Any) -> httpx.Response:
    """POST with no proxy from the environment: the request goes to the checked address."""
    with httpx.Client(trust_env=False) as client:
        return client.post(url, **kwargs)


MAX_ATTEMPTS = 8  # then the delivery is given up (``failed``)


def deliver(svc: Coordinator, delivery_id: int, post: Post = post_direct) -> None:
    """POST one alert to one webhook; raise DeliveryFailed (the caller retries) unless 2xx.
    The attempt holds the delivery's lease (``coordinator.delivery_claims``): a second task for
    it raises DeliveryBusy meanwhile, and one for a delivery done does nothing."""
    with svc.session() as session:
        claimed = claim(session, Delivery, delivery_id, svc.clock())
        if claimed is None:
            return
        delivery = session.get_one(Delivery, delivery_id)
        hook = session.get(Webhook, delivery.webhook_id)
        alert = session.get(Alert, delivery.alert_id)
        if hook is None or not hook.active:
            delivery.state, delivery.last_error = "failed", "the webhook was removed"
            delivery.leased_until = None
            return
        assert alert is not None  # a delivery's alert: a foreign key
        url, secret, body = hook.url, hook.secret, finite_dumps(
            {"type": f"alert.{alert.type}", "alert": alert_view(alert)}).encode()
    # the same for every attempt at this (webhook, alert): the receiver's key to drop a repeat
    message_id = f"alert-{delivery_id}"
    timestamp = int(svc.clock().timestamp())
    headers = {"content-type": "application/json", "webhook-id": message_id,
               "idempotency-key": message_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": signature(secret, message_id, timestamp, body)}
    try:
        address, host, extensions = pinned(url, target(svc, url))
        reply = post(address, content=body, headers={**headers, **host}, timeout=5.0,
                     follow_redirects=False, extensions=extensions)
        error = None if 200 <= reply.status_code < 300 else f"HTTP {reply.status_code}"
    except (httpx.HTTPError, TargetRefused) as exc:
        parsed = httpx.URL(url)
        log.debug("webhook delivery %d to %s:%s failed: %s: %s", delivery_id, parsed.host,
                  parsed.port, type(exc).__name__, exc)
        error = FAILED
    with svc.session() as session:
        settle(session, Delivery, claimed, svc.clock(), error, retry_delay(claimed.attempt))
    if error is not None:
        failed = DeliveryFailed(f"webhook delivery {delivery_id}: {error}")
        failed.retry_in = ceil(retry_delay(claimed.attempt).total_seconds())
        raise failed


def give_up(svc: Coordinator, delivery_id: int) -> bool:
    """Mark the delivery failed once it has had its attempts and none is in flight; whether
    it was (a second task for it, given up early, leaves it to the first)."""
    with svc.session() as session:
        given = session.execute(update(Delivery).where(
            Delivery.id == delivery_id, Delivery.state == "pending",
            Delivery.attempts >= MAX_ATTEMPTS, free(Delivery, svc.clock()))
            .values(state="failed").execution_options(synchronize_session=False))
        return bool(given.rowcount)  # type: ignore[attr-defined]
