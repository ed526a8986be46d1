"""A query answered by a node worker process is timed in the coordinator's metrics."""

from __future__ import annotations

from pathlib import Path

from coordinator.metrics import metrics_listener
from tests.support.world import embedded_world
from tests.unit.test_health_metrics import scrape, value


def test_an_answered_query_is_timed(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        world.add_node("alpha", "site-a")
        world.start_worker("alpha")
        warrant = world.registered()
        sent = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": warrant["warrant_id"], "targets": ["AB12 CDE"]})
        view = world.client.get(f"/queries/{sent.json()['query_id']}", params={"wait": 25},
                                headers=world.as_("police")).json()
        assert view["nodes"][0]["status"] == "answered", view
        with metrics_listener(world.svc, "127.0.0.1:0") as listener:
            families, _ = scrape(f"http://127.0.0.1:{listener.port}")
        answered = [s for s in families["safecity_query_answer_seconds"]
                    if s.name.endswith("_count")]
        assert value(answered, kind="plate_watchlist") == 1
    finally:
        world.close()
