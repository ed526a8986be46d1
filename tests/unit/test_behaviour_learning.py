"""Why the sites train together: on held-out scripted behaviour with known labels, the model
averaged over three sites beats every site's model trained alone, both under the same DP-SGD
plan.

Each site's recorded tracks cover only part of what is normal in the city (the platform exit
sees commuters, the waiting hall people waiting, the side-door corridor people crossing), so a
site alone mistakes the others' normal for unusual. The averaging here is federated averaging
weighted by examples, done in this process: the sum Flower computes under SecAgg+ equals it
(tests/test_federated.py), and bench/trajectory.py runs this comparison through real
SuperNodes."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nodes.analytics.trajectories import TrajectoryStore
from nodes.config import NodeSettings, load_settings
from nodes.learning import dp_training
from nodes.learning.dp_training import Plan, train
from nodes.learning.local_data import trajectories
from privacy.learning.tasks import get_task, load_parameters, parameters
from simulation.behaviour_scores import HeldOut, aurocs, local_only
from simulation.behaviours import UNUSUAL, site_trajectories

pytestmark = pytest.mark.slow
SITES, TRACKS = 3, 300


def site(root: Path, index: int) -> NodeSettings:
    config = root / f"site-{index}.toml"
    config.write_text(f'site_id = "site-{index}"\ndata_dir = "{root / f"site-{index}"}"\n')
    settings = load_settings(config)
    store = TrajectoryStore(settings.stores.trajectories, 7)
    store.add_many("cam", datetime.now(UTC), [
        ("person", t) for t in site_trajectories(index, TRACKS, seed=1, unusual_fraction=0.02)])
    store.close()
    return settings


def federated(sites: list[NodeSettings], plan: Plan) -> object:
    task = get_task("trajectory")
    network = task.model()
    data = [trajectories(s)[0] for s in sites]
    for round_number in range(1, plan.rounds + 1):
        updates, weights = [], []
        for train_data in data:
            local = copy.deepcopy(network)
            train(local, train_data, plan, round_number, task.objective)
            updates.append(parameters(local))
            weights.append(len(train_data[1]))
        load_parameters(network, [sum(u[i] * w for u, w in zip(updates, weights, strict=True))
                                  / sum(weights) for i in range(len(updates[0]))])
    return network


def test_the_federated_model_beats_every_site_alone(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A node draws its DP batches and noise from the OS's entropy (never from a seed anyone
    # else knows; test_federated.py runs that). Comparing two training setups needs the same
    # draws on every run, so here that entropy comes from a fixed seed.
    monkeypatch.setattr(dp_training, "secrets",
                        SimpleNamespace(randbits=random.Random(20261203).getrandbits))
    sites = [site(tmp_path, i) for i in range(SITES)]
    plan = Plan(3.0, 1e-5, 15, batch_size=64, learning_rate=0.5)
    held = HeldOut.make(SITES, 120, 60, seed=1001)
    together = aurocs(federated(sites, plan), held)  # type: ignore[arg-type]
    alone = [aurocs(local_only(s, plan), held) for s in sites]
    for index, scores in enumerate(alone):
        assert together["city"] > scores["city"], (index, together, scores)
    assert together["city"] > 0.93
    assert all(together["kinds"][kind] > 0.85 for kind in UNUSUAL), together
    assert np.mean([s["city"] for s in alone]) < together["city"] - 0.02
