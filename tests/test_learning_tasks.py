"""The training tasks and the node's DP-SGD accounting, without Flower: the digits split is
non-IID and disjoint, the noise is set so the whole run spends exactly its target epsilon, and
DP-SGD still learns."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.learning.dp_training import Plan, train
from privacy.errors import ConfigError
from privacy.learning.digits import partition, split
from privacy.learning.tasks import get_task, load_parameters, parameters


def test_digits_are_split_non_iid_and_disjoint_across_nodes() -> None:
    (features, labels), (test_x, test_y) = split()
    assert len(labels) + len(test_y) == 1797 and features.max() <= 1.0
    parts = [partition(i, 3) for i in range(3)]
    assert sum(len(p[1]) for p in parts) == len(labels)
    rows = {tuple(row) for p in parts for row in p[0]}
    assert len(rows) == len({tuple(row) for row in features})  # nothing shared or lost
    for _, part_labels in parts:  # each node sees few digits
        assert len(np.unique(part_labels)) <= 6
    with pytest.raises(ConfigError, match="partition 3"):
        partition(3, 3)
    with pytest.raises(ConfigError, match="the tasks are: digits"):
        get_task("nope")


def test_the_run_spends_exactly_its_epsilon_round_by_round() -> None:
    plan = Plan(epsilon=3.0, delta=1e-5, rounds=5, batch_size=64)
    spent = [plan.epsilon_after(480, r) for r in range(6)]
    assert spent[0] == 0.0 and all(a < b for a, b in zip(spent, spent[1:], strict=False))
    assert 2.9 <= spent[-1] <= 3.0 + 1e-9


def test_dp_sgd_learns_the_digits() -> None:
    task = get_task("digits")
    model = task.model()
    before = task.score(model, split()[1])["accuracy"]
    plan = Plan(epsilon=8.0, delta=1e-5, rounds=10, batch_size=64, learning_rate=1.0)
    for round_number in range(1, 11):
        train(model, split()[0], plan, round_number)
    after = task.score(model, split()[1])["accuracy"]
    assert before < 0.3 and after > 0.85
    copy = task.model()
    load_parameters(copy, parameters(model))
    assert task.score(copy, split()[1])["accuracy"] == after
