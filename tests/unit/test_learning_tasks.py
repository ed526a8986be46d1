"""The training tasks and the node's DP-SGD accounting, without Flower: the digits split is
non-IID and disjoint, the noise is set so the whole run spends exactly its target epsilon, and
DP-SGD still learns."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kernel.errors import ConfigError
from nodes.learning.dp_training import Plan, train
from privacy.learning.digits import partition, split
from privacy.learning.tasks import get_task, load_parameters, parameters


def test_digits_are_split_non_iid_and_disjoint_across_nodes() -> None:
    (features, labels), (test_x, test_y) = split()
    assert len(labels) + len(test_y) == 1797
    np.testing.assert_allclose(features.mean(0), 0, atol=1e-5)  # standardised on train
    assert np.abs(test_x.mean(0)).max() < 0.5
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
    assert spent[0] == 0.0 and all(a < b for a, b in itertools.pairwise(spent))
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


def test_each_round_is_accounted_on_the_data_it_ran_on(tmp_path) -> None:
    from nodes.learning.dp_training import spent
    from nodes.privacy_ledger import PrivacyLedger
    from privacy.dp.accounting import Budget, BudgetExceeded, BudgetPolicy

    plan = Plan(epsilon=3.0, delta=1e-5, rounds=4, batch_size=64)
    book = PrivacyLedger(tmp_path / "ledger.sqlite",
                         BudgetPolicy(Budget(10.0, 1e-4), Budget(10.0, 1e-4)), "site x")
    noise = plan.step(400)[0]
    steady = [plan.step(400, noise)] * 4
    assert spent(steady, 1e-5) == pytest.approx(plan.epsilon_after(400, 4))
    growing = []  # the site records while the run goes on: 400, 460, 520, 580 tracks
    for round_number, examples in enumerate((400, 460, 520, 580), start=1):
        step = plan.step(examples, noise)
        before, after = spent(growing, 1e-5), spent([*growing, step], 1e-5)
        book.spend_round("run-1", round_number, step, after - before,
                         1e-5 if round_number == 1 else 0.0)
        growing.append(step)
    assert book.training_rounds("run-1") == growing
    assert book.spent().epsilon == pytest.approx(spent(growing, 1e-5))
    assert spent(growing, 1e-5) < plan.epsilon_after(400, 4)  # more data, each round cheaper
    with pytest.raises(ValueError, match="already trained round 2"):
        book.spend_round("run-1", 2, growing[1], 0.1, 0.0)
    with pytest.raises(BudgetExceeded):
        book.spend_round("run-2", 1, growing[0], 20.0, 1e-5)
    assert book.training_rounds("run-2") == []  # a refused round leaves nothing behind
    book.close()


def test_the_runs_seed_does_not_fix_the_noise_or_the_batches_under_dp() -> None:
    """The coordinator chooses the run's seed: were the DP noise or the Poisson batches drawn
    from it, it could replay them and subtract the noise. Without DP the seed makes a run
    repeatable (the secure-aggregation test relies on it)."""
    task = get_task("digits")

    def trained(plan: Plan) -> np.ndarray:
        model = task.model()
        train(model, split()[0], plan, 1, task.objective)
        return parameters(model)[0]

    private = Plan(epsilon=3.0, delta=1e-5, rounds=2, batch_size=64, seed=7)
    assert np.abs(trained(private) - trained(private)).max() > 1e-3
    clear = Plan(epsilon=0.0, delta=1e-5, rounds=2, batch_size=64, seed=7)
    np.testing.assert_array_equal(trained(clear), trained(clear))
