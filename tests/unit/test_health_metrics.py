"""The coordinator's liveness, readiness and Prometheus metrics, scraped over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from contract.tasks import queue_name
from coordinator.metrics import metrics_listener
from tests.support.served import free_port, serving
from tests.support.world import World, embedded_world


def scrape(base: str) -> tuple[dict[str, list], str]:
    """metric family name -> its samples, parsed as Prometheus parses them."""
    response = httpx.get(f"{base}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples
            for family in text_string_to_metric_families(response.text)}, response.text


def value(samples: list, **labels: str) -> float:
    found = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert found, (labels, samples)
    return sum(found)


def test_health_readiness_and_metrics_of_a_working_coordinator(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        node = world.add_node("alpha", "site-a")
        warrant = world.registered()
        sent = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": warrant["warrant_id"], "targets": ["AB12 CDE"]})
        assert sent.status_code == 202
        with serving(world.svc) as base, metrics_listener(world.svc,
                                                          "127.0.0.1:0") as listener:
            assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
            ready = httpx.get(f"{base}/readyz").json()
            assert ready["status"] == "ready"
            assert ready["checks"] == {"database": "ok", "audit_log": "ok", "broker": "ok"}
            httpx.get(f"{base}/warrants/{warrant['warrant_id']}", headers=world.as_("police"))
            # the public API port serves no metrics; the loopback listener does
            assert httpx.get(f"{base}/metrics").status_code == 404
            families, text = scrape(f"http://127.0.0.1:{listener.port}")
        assert value(families["safecity_audit_log_entries"]) == world.svc.audit.size()
        assert value(families["safecity_audit_appends"]) >= 5
        assert value(families["safecity_nodes"], state="active") == 1
        # the query waits on the node's queue: no worker is running
        assert value(families["safecity_queue_depth"], queue=queue_name(node.node_id)) == 1
        assert value(families["safecity_http_requests"], method="GET",
                     route="/warrants/{warrant_id}", status="200") == 1
        # labels carry route templates only: no warrant id, plate or user name
        assert warrant["warrant_id"] not in text and "AB12" not in text and "police" not in text
    finally:
        world.close()


def test_readiness_names_a_broker_that_is_gone(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    world = World(tmp_path, f"sqlite:///{tmp_path / 'coordinator.sqlite'}", dead, dead)
    try:
        with serving(world.svc) as base:
            assert httpx.get(f"{base}/healthz").status_code == 200  # alive, not ready
            response = httpx.get(f"{base}/readyz", timeout=30)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "not_ready" and body["checks"]["database"] == "ok"
        assert body["checks"]["broker"].startswith("unavailable")
        assert "broker: unavailable" in body["detail"]
    finally:
        world.close()
