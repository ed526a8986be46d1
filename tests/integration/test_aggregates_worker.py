"""A planner's aggregate question answered by a node worker process."""

from __future__ import annotations

import time
from datetime import timedelta

from audit.records import Action
from tests.support.world import World
from tests.unit import test_aggregates
from tests.unit.test_aggregates import START

city = test_aggregates.city  # the in-process tests' fixture, an instance of its own here


def test_a_planner_asks_through_the_coordinator_and_the_worker(city: World) -> None:
    planner = city.as_("planner")
    window = {"start": START.isoformat(), "end": (START + timedelta(days=2)).isoformat()}
    body = {"kind": "zone_counts_hourly", "window": window, "epsilon": 0.5}
    assert city.client.post("/aggregates", headers=city.as_("police"),
                            json=body).status_code == 403
    assert city.client.post("/aggregates", headers=planner, json=body | {"epsilon": 3}
                            ).json()["code"] == "epsilon_too_large"
    assert city.client.post("/aggregates", headers=planner, json=body | {"window": {
        "start": START.isoformat(), "end": (START + timedelta(days=40)).isoformat()}}
                            ).json()["code"] == "window_too_long"
    city.start_worker("alpha")
    asked = city.client.post("/aggregates", headers=planner, json=body)
    assert asked.status_code == 202, asked.text
    query_id = asked.json()["query_id"]
    deadline = time.monotonic() + 60
    while (view := city.client.get(f"/aggregates/{query_id}?wait=5", headers=planner).json()
           )["status"] != "complete":
        assert time.monotonic() < deadline, city.worker_log("alpha")
    node = view["nodes"][0]
    assert node["status"] == "answered", node
    assert len(node["cells"]) == 2 * 48 and node["epsilon"] == "0.5"
    assert node["mechanism"] == "discrete_laplace" and node["epsilon_left"] == "1.5"
    assert city.client.get(f"/aggregates/{query_id}", headers=city.as_("dpo")).status_code == 200
    assert city.client.get(f"/aggregates/{query_id}",
                           headers=city.as_("police")).status_code == 403
    released = [e.record for e in city.svc.audit.entries()
                if e.record.action is Action.AGGREGATE_RELEASED]
    assert len(released) == 1 and released[0].outcome == "answered"
