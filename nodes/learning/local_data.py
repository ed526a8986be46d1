"""What each task trains on at this node: a public benchmark's share, or the site's own
anonymous trajectories (``nodes.analytics.trajectories``). The data never leaves this process;
only the model update does, masked by secure aggregation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kernel.errors import ConfigError
from nodes.analytics.trajectories import TrajectoryStore
from nodes.config import NodeSettings, load_settings
from privacy.learning.movement import feature_matrix

if TYPE_CHECKING:  # torch is imported only where a task trains
    from privacy.learning.tasks import Arrays, Task

VALIDATION_FRACTION = 0.2
SEED = 2026


def node_settings(node_config: dict[str, Any]) -> NodeSettings:
    try:
        return load_settings(Path(str(node_config["safecity-config"])))
    except KeyError:
        raise ConfigError("the SuperNode's node config needs safecity-config (the path of the "
                          "node's settings file)") from None


def trajectory_store(settings: NodeSettings) -> TrajectoryStore:
    return TrajectoryStore(settings.stores.trajectories,
                           settings.trajectory_retention_days)


def trajectories(settings: NodeSettings) -> tuple[Arrays, Arrays]:
    """The site's recorded person trajectories as features: (training, held-out) of the same
    shuffle every round, so the held-out fifth is never trained on."""
    store = trajectory_store(settings)
    try:
        rows = feature_matrix(store.load("person"))
    finally:
        store.close()
    order = np.random.default_rng(SEED).permutation(len(rows))
    cut = round(len(rows) * (1 - VALIDATION_FRACTION))
    train, held = rows[order[:cut]], rows[order[cut:]]
    return ((train, np.zeros(len(train), dtype=np.int64)),
            (held, np.zeros(len(held), dtype=np.int64)))


SITE_DATA = {"trajectory": lambda config: trajectories(node_settings(config))}


def local_data(task: Task, node_config: dict[str, Any]) -> tuple[Arrays, Arrays]:
    if task.local_data is not None:
        return task.local_data(node_config)
    if task.name not in SITE_DATA:
        raise ConfigError(f"this node has no data for the task {task.name!r}")
    return SITE_DATA[task.name](node_config)
