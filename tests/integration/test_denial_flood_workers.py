"""Two API worker processes on one PostgreSQL database count one flood of anonymous denials."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from coordinator import denials
from coordinator.housekeeping import housekeeping
from tests.integration.test_faults import coordinator_process
from tests.support.served import free_port
from tests.support.world import World
from tests.unit.test_denial_flood import LIMIT, OPTIONS, counted


def test_two_api_workers_count_one_flood(tmp_path, postgres_url: str) -> None:
    """`coordinator serve` with two worker processes on PostgreSQL: the flood is counted once,
    across both, and the limit holds across both."""
    world = World(tmp_path, postgres_url, "redis://127.0.0.1:6379/9", "redis://127.0.0.1:6379/9",
                  options={**OPTIONS, "denial_interval_seconds": 3600})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        before = world.svc.audit.size()
        extra = f"workers = 2\nanonymous_denials_per_address = {LIMIT}\n" \
                f"denial_interval_seconds = 3600\n"
        with (coordinator_process(world, port, extra),
              httpx.Client(base_url=base, timeout=30) as client, ThreadPoolExecutor(8) as pool):
            statuses = list(pool.map(lambda i: client.get(f"/queries/x{i}").status_code,
                                     range(300)))
        assert set(statuses) == {401, 429}
        assert statuses.count(401) <= LIMIT and statuses.count(429) >= 300 - LIMIT
        assert world.svc.audit.size() == before
        assert denials.pending(world.svc) == {("127.0.0.1", "unauthenticated"): 300}
        world.set_time(datetime.now(UTC) + timedelta(hours=2))
        housekeeping(world.svc)
        assert sum(r.counts_returned for r in counted(world)) == 300  # one entry an interval
        for entry in world.svc.audit.entries(before, 10_000):
            networks = json.loads(world.svc.audit.details(entry.index)["networks"])
            assert list(networks) == ["127.0.0.0/24"]
    finally:
        world.close()
