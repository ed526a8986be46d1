"""The coordinator's Flower ServerApp: federated averaging (McMahan et al., AISTATS 2017) of the
nodes' DP-SGD updates, summed under SecAgg+ (Bell et al., "Secure Single-Server Aggregation with
(Poly)Logarithmic Overhead", CCS 2020) so the coordinator sees only the sum.

The run configuration comes from ``flwr run --run-config``; the run's record (rounds, nodes,
epsilon each node reported, scores, wall time, final parameters) is written to ``results``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from flwr.common import Context, Message, ndarrays_to_parameters
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

from privacy.learning.tasks import get_task, load_parameters, parameters

POLL_SECONDS = 0.1
FIT_KEYS = ("task", "epsilon", "delta", "rounds", "local-epochs", "batch-size",
            "learning-rate", "max-grad-norm", "seed", "run")


class PromptGrid:
    """Flower's HTTP grid waits 3 s between polls for replies; a round of SecAgg+ has four
    exchanges. This asks every ``POLL_SECONDS`` instead (same messages, same API)."""

    def __init__(self, grid: Grid):
        self._grid = grid

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *,
                         timeout: float | None = None) -> Iterable[Message]:
        waiting = set(self._grid.push_messages(messages))
        end = time.monotonic() + (timeout if timeout is not None else float("inf"))
        replies: list[Message] = []
        while waiting and time.monotonic() < end:
            got = list(self._grid.pull_messages(waiting))
            replies += got
            waiting -= {m.metadata.reply_to_message_id for m in got}
            if waiting:
                time.sleep(POLL_SECONDS)
        return replies


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = dict(context.run_config)
    task = get_task(str(config["task"]))
    rounds, nodes = int(config["rounds"]), int(config["min-nodes"])
    history: list[dict[str, Any]] = []
    reported: list[float] = []  # epsilon each node reported for the round being aggregated
    started = time.monotonic()
    model = task.model()

    def fit_config(round_number: int) -> dict[str, Any]:
        return {**{k: config[k] for k in FIT_KEYS}, "round": round_number}

    def evaluate(round_number: int, arrays: list[np.ndarray], _: dict[str, Any]
                 ) -> tuple[float, dict[str, float]] | None:
        load_parameters(model, arrays)  # the latest global model, kept for the record
        if task.public_test is None:  # only public benchmarks are scored at the coordinator
            return None
        score = task.score(model, task.public_test())
        history.append({"round": round_number, **score, "node_epsilon": reported[:],
                        "seconds": round(time.monotonic() - started, 2)})
        reported.clear()
        return 1.0 - score["accuracy"], score

    def fit_metrics(results: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        reported[:] = sorted(float(m.get("epsilon", 0.0)) for _, m in results)
        return {}

    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=nodes,
                      min_available_clients=nodes, on_fit_config_fn=fit_config,
                      evaluate_fn=evaluate, fit_metrics_aggregation_fn=fit_metrics,
                      initial_parameters=ndarrays_to_parameters(parameters(model)))
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=rounds),
                           strategy=strategy)
    secagg = bool(config.get("secagg", True))
    workflow = DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(
        num_shares=int(config.get("num-shares", 3)),
        reconstruction_threshold=int(config.get("reconstruction-threshold", 2)))
        if secagg else None)
    workflow(PromptGrid(grid), legacy)  # type: ignore[arg-type]
    record = {"task": task.name, "rounds": rounds, "secagg": secagg,
              "epsilon": config["epsilon"], "delta": config["delta"], "history": history,
              "seconds": round(time.monotonic() - started, 2),
              "parameters": [a.tolist() for a in parameters(model)]}
    results = Path(str(config["results"]))
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(record))
