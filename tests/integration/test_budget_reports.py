"""Each node's newest budget report on PostgreSQL and SQLite: one query reads one row per node
however many answers are stored, skips the newer answers that state no budget, and the planner
API (``GET /aggregates/budgets``) and the planner's page read the same report from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from coordinator import budget_reports
from coordinator.db import Aggregate, AggregateNode, Node
from coordinator.services.aggregates import budgets
from coordinator.web.planner import _lefts
from tests.support.world import World, embedded_world
from tests.unit.test_planner_page import budget

DAY = datetime(2026, 12, 1, tzinfo=UTC)
QUESTIONS = 40
NODES = ("n-a", "n-b", "n-c", "n-d", "n-e")


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        made = embedded_world(tmp_path)
    else:
        made = World(tmp_path, request.getfixturevalue("postgres_url"),
                     f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                     f"db+sqlite:///{tmp_path / 'results.sqlite'}")
    made.set_time(DAY + timedelta(days=5))
    yield made
    made.close()


def stated(left: str) -> dict[str, Any]:
    return {"status": "answered", "epsilon_left": left,
            "budget": budget("2026-12", "2026-11-30T23:00:00Z", "2026-12-31T23:00:00Z",
                             period_left=left, lifetime_left="9")}


def part(n: int, node: str) -> tuple[str, str | None, dict[str, Any] | None]:
    """Question ``n``'s answer at ``node`` (status, reason, signed body): n-a states its budget
    in every answer; n-b in its older ones, then refuses for a bad window (no budget), fails
    and has one pending; n-c answers from before budget reports (``epsilon_left`` only) and
    its newest budget refusal states one; n-d never answers; n-e's refusals state none."""
    left = f"{1 + n / 100:g}"
    if node == "n-a":
        return "answered", None, stated(left)
    if node == "n-b":
        if n < QUESTIONS - 3:
            return "answered", None, stated(left)
        return (("refused", "bad_window", {"status": "refused", "budget": None}),
                ("failed", "bad_signature", None),
                ("pending", None, None))[n - (QUESTIONS - 3)]
    if node == "n-c":
        if n == QUESTIONS // 2:
            return "refused", "budget_exceeded", {**stated("0.1"), "status": "refused"}
        return "answered", None, {"status": "answered", "epsilon_left": left}
    return ("refused", "bad_window", {"status": "refused"}) if node == "n-e" else (
        "pending", None, None)


def fill(world: World) -> None:
    with world.svc.session() as session:
        for node in NODES:
            session.add(Node(node_id=node, site_id=f"site-{node}", cameras=["gate"],
                             identity_key=f"ed25519:{node}", sealing_key="x25519:x",
                             enrolled_by="admin", enrolled_at=DAY))
        for n in range(QUESTIONS):
            at = DAY + timedelta(hours=n)
            session.add(Aggregate(query_id=f"q{n:03}", kind="zone_counts_hourly",
                                  requested_by="planner", epsilon=0.1, delta=0.0,
                                  window_start=DAY, window_end=DAY, dispatched_index=0,
                                  created_at=at, deadline=at))
        session.flush()
        for n in range(QUESTIONS):
            for node in NODES:
                status, reason, body = part(n, node)
                session.add(AggregateNode(
                    query_id=f"q{n:03}", node_id=node, cameras=["gate"], task_id=f"t{n}{node}",
                    status=status, reason=reason, result={"result": body} if body else None,
                    answered_at=None if status == "pending" else DAY + timedelta(hours=n)))


def test_one_bounded_query_gives_each_nodes_newest_budget_to_both_readers(world: World
                                                                          ) -> None:
    fill(world)
    loaded: list[str] = []
    statements: list[str] = []

    def on_load(target: AggregateNode, _: Any) -> None:
        loaded.append(target.node_id)

    def on_execute(*args: Any) -> None:
        if "aggregate_nodes" in args[2]:
            statements.append(args[2])

    event.listen(AggregateNode, "load", on_load)
    event.listen(Engine, "before_cursor_execute", on_execute)
    try:
        api = {row["node_id"]: row for row in budgets(world.svc)}
        api_reads, api_rows = list(statements), sorted(loaded)
        statements.clear(), loaded.clear()
        page = _lefts(world.svc, list(NODES))
    finally:
        event.remove(AggregateNode, "load", on_load)
        event.remove(Engine, "before_cursor_execute", on_execute)

    last = f"q{QUESTIONS - 1:03}"
    assert {n: api[n]["query_id"] for n in NODES} == {
        "n-a": last, "n-b": f"q{QUESTIONS - 4:03}", "n-c": last, "n-d": None, "n-e": None}
    assert {n: page[n].query_id for n in NODES} == {n: api[n]["query_id"] for n in NODES}
    assert {n: page[n].epsilon for n in NODES} == {
        n: None if api[n]["epsilon_left_estimate"] is None
        else float(api[n]["epsilon_left_estimate"]) for n in NODES}
    assert page["n-b"].epsilon == 1.36 and page["n-b"].period == "2026-12"
    assert api["n-c"]["budget"] is None and page["n-c"].period is None  # before budget reports
    # bounded: one statement each, one row per node that has stated a budget, not 200
    for reads, rows in ((api_reads, api_rows), (statements, sorted(loaded))):
        assert len(reads) == 1 and "LIMIT" in reads[0]
        assert rows == ["n-a", "n-b", "n-c"]
    with world.svc.session() as session:
        assert budget_reports.newest(session, []) == {}
