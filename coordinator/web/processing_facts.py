"""What the running coordinator knows that the record of processing states (GDPR Art.
30(1)(a), (d)-(g)): read from its configuration, its database (the enrolled sites' camera
notices, the active webhooks) and the public report, for ``record_of_processing``."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from coordinator.db import Node, Webhook
from coordinator.service import Coordinator
from coordinator.web.record_of_processing import Facts, Responsible


def responsible(svc: Coordinator) -> Responsible:
    settings = svc.settings
    return Responsible(settings.controller, settings.representative,
                       settings.data_protection_officer)


def facts(svc: Coordinator, report: dict[str, Any]) -> Facts:
    """The facts, with whom results were disclosed to from ``report`` (the public report's
    ``disclosures_by_recipient``: ``role:pseudonym`` keys)."""
    retention: dict[str, dict[str, list[int]]] = {}
    with svc.session() as session:
        for node in session.scalars(select(Node).where(Node.active)):
            for notice in node.camera_notices or ():
                for kind, days in notice.get("retention_days", {}).items():
                    retention.setdefault(node.site_id, {}).setdefault(kind, []).append(days)
        hooks = [urlsplit(url).hostname or url for url in session.scalars(
            select(Webhook.url).where(Webhook.active))]
    disclosed: Counter[str] = Counter()
    for counts in report.get("disclosures_by_recipient", {}).values():
        for recipient, n in counts.items():
            disclosed[recipient.split(":", 1)[0]] += n
    settings = svc.settings
    return Facts(retention=retention, alert_retention_days=settings.alert_retention_days,
                 webhook_hosts=tuple(hooks),
                 mqtt_host=settings.mqtt.host if settings.mqtt is not None else None,
                 witness_urls=tuple(w.url for w in settings.witnesses),
                 api_tls=settings.tls_certificate is not None, disclosed_to=dict(disclosed))
