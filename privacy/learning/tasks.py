"""Training tasks behind a small registry. A task names its model (built the same way at the
coordinator and at every node, so parameters line up), its training objective, and how a model
is scored. Nothing here moves data: a public benchmark says how each node takes its share of a
public data set (``local_data``); a task on a site's own recordings leaves that to the node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kernel.errors import ConfigError

Arrays = tuple[np.ndarray, np.ndarray]  # features, labels
Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(output: torch.Tensor, _: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(output, labels)


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    model: Callable[[], torch.nn.Module]
    score: Callable[[torch.nn.Module, Arrays], dict[str, float]]
    # (model output, inputs, labels) -> the mean loss of the batch
    objective: Objective = cross_entropy
    # public benchmarks only: node config -> (train, test), the node's share of public data
    local_data: Callable[[dict[str, Any]], tuple[Arrays, Arrays]] | None = None
    # public benchmarks only: the coordinator may score the global model on this
    public_test: Callable[[], Arrays] | None = None
    # whether the trained model goes back to the nodes to run there
    deployed: bool = False


_TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    from privacy.learning import digits, trajectory  # noqa: F401 - registers the built-ins

    if name not in _TASKS:
        raise ConfigError(f"no training task {name!r}; the tasks are: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def parameters(model: torch.nn.Module) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for p in model.state_dict().values()]


def load_parameters(model: torch.nn.Module, arrays: list[np.ndarray]) -> None:
    state = model.state_dict()
    if len(state) != len(arrays):
        raise ConfigError(f"the model has {len(state)} tensors, the update {len(arrays)}")
    for (name, tensor), array in zip(state.items(), arrays, strict=True):
        if tuple(tensor.shape) != tuple(np.shape(array)):
            raise ConfigError(f"tensor {name} is {tuple(tensor.shape)}, the update's "
                              f"{tuple(np.shape(array))}")
    model.load_state_dict({k: torch.as_tensor(np.asarray(a, dtype=np.float32))
                           for k, a in zip(state, arrays, strict=True)})


def accuracy(model: torch.nn.Module, data: Arrays) -> dict[str, float]:
    features, labels = data
    model.eval()
    with torch.no_grad():
        predicted = model(torch.as_tensor(features, dtype=torch.float32)).argmax(1).numpy()
    return {"accuracy": float((predicted == labels).mean()) if len(labels) else 0.0}
