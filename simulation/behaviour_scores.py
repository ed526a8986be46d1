"""Measuring unusual-behaviour models on scripted behaviour with known labels, and the
local-only baseline: a site training the same network alone, with its own data, the node's own
training code and the same DP-SGD plan."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nodes.config import NodeSettings
from nodes.learning.dp_training import Plan, train
from nodes.learning.local_data import trajectories
from privacy.learning.movement import auroc, feature_matrix
from privacy.learning.tasks import get_task
from privacy.learning.trajectory import anomaly_scores
from simulation.behaviours import UNUSUAL, labelled, site_trajectories


@dataclass(frozen=True)
class HeldOut:
    """Normal tracks of each site and tracks of each unusual kind, none seen in training."""

    normal: tuple[np.ndarray, ...]  # features, one matrix per site
    unusual: dict[str, np.ndarray]  # features per kind

    @classmethod
    def make(cls, sites: int, per_site: int, per_kind: int, seed: int) -> HeldOut:
        return cls(tuple(feature_matrix(site_trajectories(s, per_site, seed)) for s in
                         range(sites)),
                   {k: feature_matrix(v) for k, v in labelled(UNUSUAL, per_kind, seed).items()})


def aurocs(network: torch.nn.Module, held: HeldOut) -> dict[str, object]:
    """AUROC of the city's normal tracks against every unusual one (``city``), of each site's
    normal tracks against them (``sites``), and of the city's against each kind (``kinds``)."""
    unusual = anomaly_scores(network, np.concatenate(list(held.unusual.values())))
    per_site = [anomaly_scores(network, rows) for rows in held.normal]
    city = np.concatenate(per_site)
    return {"city": auroc(city, unusual),
            "sites": [auroc(site, unusual) for site in per_site],
            "kinds": {kind: auroc(city, anomaly_scores(network, rows))
                      for kind, rows in held.unusual.items()}}


def local_only(settings: NodeSettings, plan: Plan) -> torch.nn.Module:
    """The site's model trained on its own recorded tracks only (same network, same plan)."""
    task = get_task("trajectory")
    network = task.model()
    train_data, _ = trajectories(settings)
    for round_number in range(1, plan.rounds + 1):
        train(network, train_data, plan, round_number, task.objective)
    return network
