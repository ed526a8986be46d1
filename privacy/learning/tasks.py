"""Training tasks behind a small registry. A task names its model (built the same way at the
coordinator and at every node, so parameters line up), how a node loads its own local data, and
how a model is scored. Nothing here moves data: each node calls ``local_data`` on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from privacy.errors import ConfigError

Arrays = tuple[np.ndarray, np.ndarray]  # features, labels


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    model: Callable[[], torch.nn.Module]
    local_data: Callable[[dict[str, Any]], tuple[Arrays, Arrays]]  # node config -> train, test
    score: Callable[[torch.nn.Module, Arrays], dict[str, float]]
    # benchmarks on public data only: the coordinator may score the global model on it
    public_test: Callable[[], Arrays] | None = None


_TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    from privacy.learning import digits  # noqa: F401 - registers the built-in tasks

    if name not in _TASKS:
        raise ConfigError(f"no training task {name!r}; the tasks are: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def parameters(model: torch.nn.Module) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for p in model.state_dict().values()]


def load_parameters(model: torch.nn.Module, arrays: list[np.ndarray]) -> None:
    keys = list(model.state_dict())
    if len(keys) != len(arrays):
        raise ConfigError(f"the model has {len(keys)} tensors, the update {len(arrays)}")
    model.load_state_dict({k: torch.as_tensor(a) for k, a in zip(keys, arrays, strict=True)})


def accuracy(model: torch.nn.Module, data: Arrays) -> dict[str, float]:
    features, labels = data
    model.eval()
    with torch.no_grad():
        predicted = model(torch.as_tensor(features, dtype=torch.float32)).argmax(1).numpy()
    return {"accuracy": float((predicted == labels).mean()) if len(labels) else 0.0}
