"""Federated learning on Flower's deployment engine, for real: a SuperLink and two SuperNodes
as separate processes on loopback (no Ray, no runtime installs), `flwr run` submitting the
safecity Flower App; nodes train the digits task with DP-SGD (Opacus) and answer through SecAgg+;
each node's privacy ledger records the epsilon the run spent there."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from coordinator.learning.federation import LocalFederation, Site

pytestmark = pytest.mark.slow


@pytest.fixture
def sites(tmp_path: Path) -> list[Site]:
    found = []
    for index in range(2):
        config = tmp_path / f"site-{index}.toml"
        config.write_text(f'site_id = "site-{index}"\ndata_dir = "{tmp_path / f"site-{index}"}"\n'
                          "privacy_epsilon = 10.0\n")
        found.append(Site(f"site-{index}", config,
                          {"partition-id": index, "num-partitions": 2}))
    return found


def spent(site: Site) -> float:
    data = site.config.parent / site.name
    with sqlite3.connect(data / "privacy-ledger.sqlite") as db:
        return float(db.execute("SELECT COALESCE(SUM(epsilon), 0) FROM spends").fetchone()[0])


def test_a_dp_training_with_secure_aggregation_completes_and_is_accounted(
        tmp_path: Path, sites: list[Site]) -> None:
    with LocalFederation(tmp_path, sites) as federation:
        record = federation.run(rounds=2, epsilon=3.0, run="test")
    history = record["history"]
    assert record["secagg"] and [h["round"] for h in history] == [0, 1, 2]
    assert history[-1]["accuracy"] > history[0]["accuracy"] + 0.2  # it learned
    for site in sites:  # each node spent the run's epsilon, no more
        assert 2.9 <= spent(site) <= 3.0 + 1e-9
