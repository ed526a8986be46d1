"""Local training with record-level differential privacy: DP-SGD (Abadi et al., "Deep Learning
with Differential Privacy", CCS 2016) through Opacus, accounted with Rényi DP (Mironov 2017).

The noise multiplier is fixed at a run's first round from its target (epsilon, delta), the total
number of local steps and the node's data then. A site keeps recording while a run goes on, so
each round's sample rate is that of its own data; the epsilon spent is the Rényi composition of
the rounds actually run (``Step``: noise, sample rate, steps), recorded in the node's privacy
ledger before each round trains."""

from __future__ import annotations

import copy
import math
import secrets
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from privacy.learning.tasks import Arrays, Objective, cross_entropy

Step = tuple[float, float, int]  # noise multiplier, sample rate, optimiser steps (one round)


def spent(rounds: list[Step], delta: float) -> float:
    """Epsilon at ``delta`` after these rounds of DP-SGD (Rényi DP, Mironov 2017)."""
    if not rounds:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = list(rounds)
    return float(accountant.get_epsilon(delta))


@dataclass(frozen=True)
class Plan:
    """One training run as the coordinator configured it (epsilon 0: no DP)."""

    epsilon: float
    delta: float
    rounds: int
    local_epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 1.0
    max_grad_norm: float = 1.0
    seed: int = 0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Plan:
        return cls(epsilon=float(config["epsilon"]), delta=float(config["delta"]),
                   rounds=int(config["rounds"]), local_epochs=int(config["local-epochs"]),
                   batch_size=int(config["batch-size"]),
                   learning_rate=float(config["learning-rate"]),
                   max_grad_norm=float(config["max-grad-norm"]), seed=int(config["seed"]))

    @property
    def private(self) -> bool:
        return self.epsilon > 0

    def sample_rate(self, examples: int) -> float:
        return min(1.0, self.batch_size / max(1, examples))

    def steps_per_round(self, examples: int) -> int:
        return self.local_epochs * math.ceil(1 / self.sample_rate(examples))

    def noise_multiplier(self, examples: int) -> float:
        return float(get_noise_multiplier(
            target_epsilon=self.epsilon, target_delta=self.delta,
            sample_rate=self.sample_rate(examples),
            steps=self.rounds * self.steps_per_round(examples), accountant="rdp"))

    def step(self, examples: int, noise: float | None = None) -> Step:
        """One round on ``examples`` records (with the run's noise, once it is fixed)."""
        return (self.noise_multiplier(examples) if noise is None else noise,
                self.sample_rate(examples), self.steps_per_round(examples))

    def epsilon_after(self, examples: int, rounds_done: int) -> float:
        """The epsilon a run spends after ``rounds_done`` rounds if the data stays as it is."""
        return spent([self.step(examples)] * max(0, rounds_done), self.delta)


def train(model: torch.nn.Module, data: Arrays, plan: Plan, round_number: int,
          objective: Objective = cross_entropy, noise: float | None = None) -> float:
    """Train ``model`` in place for one round on ``objective`` (with the run's ``noise``
    multiplier, by default the plan's for these data); return the mean training loss."""
    features, labels = data
    model.train()
    # Under DP the batches (Poisson sampling) and the noise must be secret: they come from the
    # node's own entropy, never from the run's seed, which the coordinator chooses.
    seed = secrets.randbits(63) if plan.private else plan.seed * 1000 + round_number
    torch.manual_seed(seed)
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(features, dtype=torch.float32),
                                             torch.as_tensor(labels, dtype=torch.int64))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=plan.batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(seed))
    work = copy.deepcopy(model)  # Opacus hooks stay on the copy; the result goes back below
    optimizer = torch.optim.SGD(work.parameters(), lr=plan.learning_rate, momentum=0.5)
    module: torch.nn.Module = work
    if plan.private:
        with warnings.catch_warnings():  # Opacus warns that secure_mode is off (no torchcsprng)
            warnings.simplefilter("ignore")
            module, optimizer, loader = PrivacyEngine(accountant="rdp").make_private(
                module=work, optimizer=optimizer, data_loader=loader,
                noise_multiplier=plan.noise_multiplier(len(labels)) if noise is None else noise,
                noise_generator=torch.Generator().manual_seed(secrets.randbits(63)),
                max_grad_norm=plan.max_grad_norm)
    losses = []
    for _ in range(plan.local_epochs):
        for batch, targets in loader:
            if len(batch) == 0:  # Poisson sampling can draw an empty batch
                continue
            optimizer.zero_grad()
            loss = objective(module(batch), batch, targets)
            with warnings.catch_warnings():  # Opacus' hooks: inputs never need gradients here
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                loss.backward()
            optimizer.step()
            losses.append(loss.item())
    model.load_state_dict(work.state_dict())
    return float(np.mean(losses)) if losses else 0.0
