"""The unusual-behaviour model: an autoencoder over how a track moves
(``privacy.learning.movement``), trained by the sites on their own anonymous trajectories,
scored by reconstruction error (anomaly detection with autoencoders: Sakurada and Yairi,
"Anomaly Detection Using Autoencoders with Nonlinear Dimensionality Reduction", MLSDA 2014).
What a site's people usually do is reconstructed well; running, walking against the flow and
wandering about come back badly.
"""

from __future__ import annotations

import numpy as np
import torch

from privacy.learning.movement import NAMES, features, prefixes
from privacy.learning.tasks import Arrays, Task, register

SEED = 2026


def model() -> torch.nn.Module:
    """11 -> 32 -> 4 -> 32 -> 11, tanh; no normalisation layers (DP-SGD needs none)."""
    torch.manual_seed(SEED)
    width, code = 32, 4
    return torch.nn.Sequential(
        torch.nn.Linear(len(NAMES), width), torch.nn.Tanh(), torch.nn.Linear(width, code),
        torch.nn.Tanh(), torch.nn.Linear(code, width), torch.nn.Tanh(),
        torch.nn.Linear(width, len(NAMES)))


def reconstruction(output: torch.Tensor, inputs: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
    return ((output - inputs) ** 2).mean()


def anomaly_scores(network: torch.nn.Module, feature_rows: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error of each row: higher is more unusual."""
    if len(feature_rows) == 0:
        return np.zeros(0, dtype=np.float32)
    network.eval()
    with torch.no_grad():
        inputs = torch.as_tensor(feature_rows, dtype=torch.float32)
        return ((network(inputs) - inputs) ** 2).mean(1).numpy()


def peak_scores(network: torch.nn.Module, trajectories: list[np.ndarray]) -> np.ndarray:
    """Each trajectory's highest score over its live prefixes: what decides whether live
    scoring would have raised an alert about it."""
    if not trajectories:
        return np.zeros(0, dtype=np.float32)
    owners, rows = [], []
    for index, points in enumerate(trajectories):
        for prefix in prefixes(points):
            owners.append(index)
            rows.append(features(prefix))
    scores = anomaly_scores(network, np.stack(rows).astype(np.float32))
    peaks = np.full(len(trajectories), -np.inf, dtype=np.float32)
    np.maximum.at(peaks, np.asarray(owners), scores)
    return peaks


def score(network: torch.nn.Module, data: Arrays) -> dict[str, float]:
    """What a node can say without labels: how well its own held-out tracks are reconstructed."""
    errors = anomaly_scores(network, data[0])
    return {"reconstruction_error": float(errors.mean()) if len(errors) else 0.0}


TRAJECTORY = register(Task(
    "trajectory", "unusual behaviour: an autoencoder over each site's own anonymous tracks",
    model, score, objective=reconstruction, deployed=True))
