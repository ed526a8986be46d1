"""The benchmark task: scikit-learn's handwritten digits (1,797 8x8 images, installed with the
package, no download), split non-IID across nodes the way McMahan et al. did for MNIST
("Communication-Efficient Learning of Deep Networks from Decentralized Data", AISTATS 2017):
sorted by label, cut into shards, two shards per node. A fixed fifth is held out for testing."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from kernel.errors import ConfigError
from privacy.learning.tasks import Arrays, Task, accuracy, register

SEED = 2026
TEST_FRACTION = 0.2
SPREAD_FLOOR = 0.1  # border pixels are almost always 0: no division by ~0


def model() -> torch.nn.Module:
    """Multinomial logistic regression: few parameters, which DP-SGD's noise hurts least."""
    torch.manual_seed(SEED)
    return torch.nn.Linear(64, 10)


def split() -> tuple[Arrays, Arrays]:
    """(train, test), the same on every node and at the coordinator. Pixels are standardised
    with the training set's per-pixel mean and spread: statistics of public data, known to all
    (DP-SGD's clipping treats every feature alike, so centred features lose less to it)."""
    features, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(SEED).permutation(len(labels))
    features = features[order] / 16.0
    labels = labels[order].astype(np.int64)
    cut = int(len(labels) * (1 - TEST_FRACTION))
    centre, spread = features[:cut].mean(0), features[:cut].std(0) + SPREAD_FLOOR
    features = ((features - centre) / spread).astype(np.float32)
    return (features[:cut], labels[:cut]), (features[cut:], labels[cut:])


def partition(node: int, nodes: int, shards_per_node: int = 2) -> Arrays:
    """Node ``node`` of ``nodes``: its shards of the label-sorted training set (non-IID)."""
    if not 0 <= node < nodes:
        raise ConfigError(f"partition {node} is not one of 0..{nodes - 1}")
    (features, labels), _ = split()
    order = np.argsort(labels, kind="stable")
    shards = np.array_split(order, nodes * shards_per_node)
    picks = np.random.default_rng(SEED + nodes).permutation(len(shards))
    mine = np.concatenate([shards[i] for i in picks[node::nodes]])
    return features[mine], labels[mine]


def local_data(config: dict[str, Any]) -> tuple[Arrays, Arrays]:
    try:
        node, nodes = int(config["partition-id"]), int(config["num-partitions"])
    except (KeyError, ValueError):
        raise ConfigError("the digits task needs node config partition-id and "
                          "num-partitions") from None
    return partition(node, nodes), split()[1]


DIGITS = register(Task("digits", "scikit-learn digits, non-IID across nodes (benchmark)", model,
                       accuracy, local_data=local_data, public_test=lambda: split()[1]))
