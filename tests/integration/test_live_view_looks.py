"""Live-view looks on PostgreSQL, as several API workers share them: operators opening the
same camera at the same moment leave one look and at least one consultation entry (never
none, never an error), and the refreshes that follow log nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from audit.records import Action
from coordinator.auth import Principal
from coordinator.db import LiveViewLook
from coordinator.live_views import look
from tests.support.world import World


def opened(world: World, start: int) -> int:
    return sum(1 for e in world.svc.audit.entries(start, 1000)
               if e.record.action is Action.CONSULTATION
               and e.record.outcome == "live_view_opened")


def test_simultaneous_first_looks_leave_one_look_and_are_logged(tmp_path: Path,
                                                                 postgres_url: str) -> None:
    world = World(tmp_path, postgres_url, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                  f"db+sqlite:///{tmp_path / 'results.sqlite'}")
    try:
        who = Principal("operator", "site_operator", "city",
                        world.svc.actor("operator", "site_operator", "city"))
        start = world.svc.audit.size()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: look(world.svc, who, "alpha-1", "gate"), range(4)))
        assert 1 <= opened(world, start) <= 4
        with world.svc.session() as session:
            assert session.scalar(select(func.count()).select_from(LiveViewLook)) == 1
        mark = world.svc.audit.size()
        assert not any(look(world.svc, who, "alpha-1", "gate") for _ in range(5))
        assert opened(world, mark) == 0
    finally:
        world.close()
