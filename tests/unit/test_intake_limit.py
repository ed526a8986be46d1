"""The per-node flood limit on alert intake: a node sending past its rate has the excess
refused (not stored, logged, audited with the refused sequence numbers sealed, counted for
/metrics), while another node's events still land; a resend costs nothing; the bucket refills
with the clock."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.records import Action
from contract.tasks import EVENTS_TASK
from coordinator import denials
from coordinator.alert_intake import STALE, accept
from coordinator.db import Alert
from coordinator.housekeeping import purge_alerts
from coordinator.intake_limit import REFUSED, refilled
from coordinator.metrics import WorkerMetrics
from coordinator.worker import worker_app
from tests.support.incident_events import batch, event, send
from tests.support.world import World, embedded_world

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)  # the coordinator's clock: the events are in its past


@pytest.fixture
def city(tmp_path: Path):
    world = embedded_world(tmp_path, options={"node_events_per_minute": 60,
                                              "node_event_burst": 5})
    world.set_time(LATER)
    world.add_node("alpha", "site-a")
    world.add_node("beta", "site-b")
    yield world
    world.close()


def stored(world: World, node: str) -> list[int]:
    with world.svc.session() as session:
        return list(session.scalars(select(Alert.seq).where(
            Alert.node_id == world.nodes[node].node_id).order_by(Alert.seq)))


def refusals(world: World) -> list[dict[str, str]]:
    return [world.svc.audit.details(e.index) for e in world.svc.audit.entries(0, 100_000)
            if e.record.action is Action.ACCESS_DENIED and e.record.outcome == REFUSED]


def test_a_flooding_node_is_refused_past_its_rate_and_another_nodes_events_land(
        city: World, caplog: pytest.LogCaptureFixture) -> None:
    flood = [event(T0, rule=f"flood-{n}") for n in range(12)]
    with caplog.at_level(logging.WARNING, logger="coordinator.intake_limit"):
        intake = send(city, flood)
    assert (len(intake.alerts), intake.refused) == (5, 7)
    assert stored(city, "alpha") == [e.seq for e in flood[:5]]  # the first five by seq
    [refusal] = refusals(city)
    sealed = {k: json.loads(v) for k, v in refusal.items()}
    assert sealed["node"] == city.nodes["alpha"].node_id and sealed["refused"] == "7"
    assert sealed["seqs"] == ",".join(str(e.seq) for e in flood[5:])
    assert f"7 events of {city.nodes['alpha'].node_id} over its rate" in caplog.text

    other = [event(T0, rule="quiet", camera="lobby") for _ in range(3)]
    landed = send(city, other, node="beta")  # its own bucket: untouched by alpha's flood
    assert (len(landed.alerts), landed.refused) == (3, 0)
    assert stored(city, "beta") == [e.seq for e in other]

    again = send(city, flood[:5])  # a resend of stored events takes no token, refuses nothing
    assert (again.alerts, again.duplicates, again.refused) == ([], 5, 0)
    assert len(refusals(city)) == 1

    city.set_time(LATER + timedelta(seconds=2))  # 60 a minute: two more tokens
    later = send(city, [event(T0, rule=f"later-{n}") for n in range(3)])
    assert (len(later.alerts), later.refused) == (2, 1)
    assert len(refusals(city)) == 2


def test_the_worker_counts_refused_events_for_metrics(city: World) -> None:
    metrics = WorkerMetrics()
    app = worker_app(city.settings, lambda: city.svc, metrics)
    answer = app.tasks[EVENTS_TASK](batch(city, [event(T0, rule=f"r{n}") for n in range(8)]))
    assert answer["accepted"] == 5 and answer["refused"] == 3
    assert metrics.registry.get_sample_value("safecity_worker_events_refused_total") == 3


def test_the_bucket_refills_at_the_rate_up_to_its_size() -> None:
    assert refilled(0.0, T0, T0 + timedelta(seconds=30), 60, 1000) == 30.0
    assert refilled(4.0, T0, T0 + timedelta(hours=1), 60, 5) == 5.0
    assert refilled(2.5, T0, T0 - timedelta(minutes=5), 60, 5) == 2.5  # a clock set back


def test_a_replayed_batch_from_past_the_retention_is_stale_not_stored_nor_charged(
        city: World) -> None:
    """Red team 3 (redteam/old_batches_replayed_drain_bucket.py): a node's batch sent again by
    anyone after its alerts were purged came back as alerts and used up the node's bucket."""
    sent = batch(city, [event(T0, rule=f"old-{n}") for n in range(5)])
    assert len(accept(city.svc, sent).alerts) == 5
    city.set_time(T0 + timedelta(days=city.settings.alert_retention_days, hours=2))
    assert purge_alerts(city.svc) == 5
    replayed = accept(city.svc, sent)  # the node's own signature, no key needed to resend
    assert (replayed.alerts, replayed.refused, replayed.stale) == ([], 0, 5)
    assert stored(city, "alpha") == [] and refusals(city) == []
    assert denials.pending(city.svc) == {(denials.OTHER, STALE): 1}
    # the bucket is untouched: a node back from hours offline still delivers its whole burst
    late = [event(city.clock() - timedelta(hours=6), rule=f"late-{n}") for n in range(5)]
    landed = send(city, late)
    assert (len(landed.alerts), landed.refused, landed.stale) == (5, 0, 0)
