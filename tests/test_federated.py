"""Federated learning on Flower's deployment engine, for real: a SuperLink and SuperNodes as
separate processes on loopback (TLS, SuperNode authentication, no Ray, no runtime installs),
`flwr run` submitting the safecity Flower App; nodes train the digits task with DP-SGD (Opacus)
and answer through SecAgg+; each node's privacy ledger records the epsilon the run spent there;
a SuperNode whose key was not registered is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from coordinator.learning.federation import LocalFederation, Site
from nodes.config import load_settings
from nodes.learning.flower_key import flower_key

pytestmark = pytest.mark.slow


def site(root: Path, index: int, partitions: int, registered: bool = True) -> Site:
    """A site's settings file and its SuperNode key, made at the node."""
    config = root / f"site-{index}.toml"
    config.write_text(f'site_id = "site-{index}"\ndata_dir = "{root / f"site-{index}"}"\n'
                      "privacy_epsilon = 10.0\n")
    key, public = flower_key(load_settings(config).keys_dir)
    return Site(f"site-{index}", config, {"partition-id": index, "num-partitions": partitions},
                key, public, registered)


def spent(site: Site) -> float:
    data = site.config.parent / site.name
    with sqlite3.connect(data / "privacy-ledger.sqlite") as db:
        return float(db.execute("SELECT COALESCE(SUM(epsilon), 0) FROM spends").fetchone()[0])


def test_a_dp_training_with_secure_aggregation_completes_and_is_accounted(
        tmp_path: Path) -> None:
    sites = [site(tmp_path, 0, 3), site(tmp_path, 1, 3)]
    stranger = site(tmp_path, 2, 3, registered=False)  # its key was never registered
    with LocalFederation(tmp_path, [*sites, stranger]) as federation:
        record = federation.run(rounds=2, epsilon=3.0, run="test")
        refused = federation.log(stranger.name)
    history = record["history"]
    assert record["secagg"] and [h["round"] for h in history] == [0, 1, 2]
    assert history[-1]["accuracy"] > history[0]["accuracy"] + 0.2  # it learned
    for member in sites:  # each node spent the run's epsilon, no more
        assert 2.9 <= spent(member) <= 3.0 + 1e-9
    assert not (tmp_path / stranger.name / "privacy-ledger.sqlite").exists(), refused
    assert "Failed to activate SuperNode" in refused, refused[-2000:]  # refused at the door
