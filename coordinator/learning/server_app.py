"""The coordinator's Flower ServerApp: federated averaging of the nodes' DP-SGD updates, summed
under SecAgg+ (Bell et al., "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead",
CCS 2020) so the coordinator sees only the sum.

Before training, every connected node is asked whether it takes part (``preflight``); those
that decline (too little data, privacy budget) are left out with their reason, and a run with
fewer than ``min-nodes`` willing nodes does not start. A round goes on without a node that
fails or falls silent past ``round-timeout`` (SecAgg+ recovers the sum of the others), and the
record says who dropped out and why. With ``client-dp-noise`` above 0 the nodes clip their
updates and the sum gets Gaussian noise (client-level DP: McMahan et al., "Learning
Differentially Private Recurrent Language Models", ICLR 2018), accounted with Rényi DP.

The run configuration comes from ``flwr run --run-config``; the run's record (who took part,
rounds, epsilon each node reported, dropouts, scores, wall time, final parameters) is written to
``results``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.common import (
    Context,
    GetPropertiesIns,
    Message,
    MessageTypeLegacy,
    ndarrays_to_parameters,
)
from flwr.compat.common import recorddict_compat as compat
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping, Strategy
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

from coordinator.learning.grid import SILENT, PromptGrid
from coordinator.learning.strategy import AdmittedFedAvg
from kernel.atomic_file import write_atomic
from privacy.learning.tasks import Task, get_task, load_parameters, parameters

PREFLIGHT = "preflight"
FIT_KEYS = ("task", "epsilon", "delta", "rounds", "local-epochs", "batch-size",
            "learning-rate", "max-grad-norm", "seed", "run")


def wait_for_nodes(grid: PromptGrid, expected: int, seconds: float) -> list[int]:
    """The connected nodes, once ``expected`` are there or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= expected or time.monotonic() >= deadline:
            return nodes
        time.sleep(0.2)


def preflight(grid: PromptGrid, nodes: list[int], config: dict[str, Any], timeout: float
              ) -> dict[int, dict[str, Any]]:
    """Each node's answer to "will you take part in this run?" (``admitted``, ``reason``)."""
    ask = compat.getpropertiesins_to_recorddict(
        GetPropertiesIns(config={k: config[k] for k in FIT_KEYS}))
    messages = [Message(content=ask, dst_node_id=node, group_id=PREFLIGHT,
                        message_type=MessageTypeLegacy.GET_PROPERTIES) for node in nodes]
    answers: dict[int, dict[str, Any]] = {}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        node = reply.metadata.src_node_id
        if reply.has_error():
            answers[node] = {"admitted": False, "reason": reply.error.reason}
        else:
            answers[node] = dict(compat.recorddict_to_getpropertiesres(reply.content).properties)
    for node in nodes:
        answers.setdefault(node, {"admitted": False, "reason": SILENT})
    return answers


def client_level_epsilon(noise: float, rounds: int, delta: float) -> float:
    """Rényi DP of ``rounds`` Gaussian releases of the clipped sum, every node in every round
    (no amplification by sampling)."""
    from opacus.accountants import RDPAccountant

    if rounds == 0:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = [(noise, 1.0, rounds)]
    return float(accountant.get_epsilon(delta))


class RunLog:
    """What the run's record says, built as the rounds go."""

    def __init__(self, config: dict[str, Any], task: Task, answers: dict[int, dict[str, Any]]):
        self.task, self.started = task, time.monotonic()
        self.sites = {n: str(a.get("site") or f"node-{n}") for n, a in answers.items()}
        self.record: dict[str, Any] = {
            "run": config["run"], "task": task.name, "rounds": int(config["rounds"]),
            "secagg": bool(config.get("secagg", True)), "epsilon": config["epsilon"],
            "delta": config["delta"], "min_nodes": int(config["min-nodes"]),
            "participants": [{"site": self.sites[n], "node": n,
                              "admitted": bool(a.get("admitted")), "reason": a.get("reason")}
                             for n, a in sorted(answers.items())],
            "history": [], "epsilon_spent": {}, "status": "running"}
        self.reported: dict[str, float] = {}
        self.aggregated = False

    def reports(self, results: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        """The nodes' metrics of the round being aggregated."""
        self.aggregated = True
        for _, metrics in results:
            site = str(metrics.get("site", "?"))
            self.reported[site] = float(metrics.get("epsilon", 0.0))
            spent = self.record["epsilon_spent"]
            spent[site] = max(spent.get(site, 0.0), self.reported[site])
        return {}

    def round_done(self, round_number: int, grid: PromptGrid, score: dict[str, float] | None
                   ) -> None:
        entry: dict[str, Any] = {"round": round_number, **(score or {}),
                                 "seconds": round(time.monotonic() - self.started, 2)}
        if round_number > 0:
            group = grid.groups[str(round_number)]
            asked = sorted(group.sent)
            entry.update({
                "aggregated": self.aggregated,
                "sites": sorted(self.sites.get(n, f"node-{n}") for n in asked
                                if group.completed(n)),
                "dropped": [{"site": self.sites.get(n, f"node-{n}"), "reason": group.reason(n)}
                            for n in asked if not group.completed(n)],
                "node_epsilon": dict(sorted(self.reported.items()))})
            self.record["rounds_completed"] = round_number
        self.record["history"].append(entry)
        self.reported, self.aggregated = {}, False

    def finish(self, status: str, model: Any, reason: str | None = None) -> dict[str, Any]:
        self.record.update({"status": status, "reason": reason,
                            "seconds": round(time.monotonic() - self.started, 2),
                            "parameters": [a.tolist() for a in parameters(model)]})
        return self.record


def strategy_for(config: dict[str, Any], task: Task, model: Any, admitted: set[int],
                 log: RunLog, grid: PromptGrid) -> Strategy:
    def fit_config(round_number: int) -> dict[str, Any]:
        return {**{k: config[k] for k in FIT_KEYS}, "round": round_number}

    def evaluate(round_number: int, arrays: list[np.ndarray], _: dict[str, Any]
                 ) -> tuple[float, dict[str, float]] | None:
        load_parameters(model, arrays)  # the latest global model, kept for the record
        score = task.score(model, task.public_test()) if task.public_test else None
        log.round_done(round_number, grid, score)
        if score is None:  # only public benchmarks are scored at the coordinator
            return None
        return 1.0 - score.get("accuracy", 0.0), score

    nodes = int(config["min-nodes"])
    strategy: Strategy = AdmittedFedAvg(
        admitted, fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=nodes,
        min_available_clients=nodes, on_fit_config_fn=fit_config, evaluate_fn=evaluate,
        fit_metrics_aggregation_fn=log.reports,
        initial_parameters=ndarrays_to_parameters(parameters(model)))
    noise = float(config.get("client-dp-noise", 0.0))
    if noise > 0:
        strategy = DifferentialPrivacyClientSideFixedClipping(
            strategy, noise_multiplier=noise, clipping_norm=float(config["client-clip"]),
            num_sampled_clients=len(admitted))
    return strategy


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = dict(context.run_config)
    task = get_task(str(config["task"]))
    rounds, minimum = int(config["rounds"]), int(config["min-nodes"])
    timeout = float(config.get("round-timeout", 120))
    prompt = PromptGrid(grid)
    nodes = wait_for_nodes(prompt, max(minimum, int(config.get("expected-nodes", 0))),
                           float(config.get("join-timeout", 60)))
    answers = preflight(prompt, nodes, config, timeout)
    admitted = {n for n, a in answers.items() if a.get("admitted")}
    log = RunLog(config, task, answers)
    model = task.model()
    if len(admitted) < minimum:
        _write(config, log.finish("declined", model, f"{len(admitted)} of the {minimum} nodes "
                                                     "the run needs can take part"))
        return
    legacy = LegacyContext(context=context, strategy=strategy_for(config, task, model, admitted,
                                                                  log, prompt),
                           config=ServerConfig(num_rounds=rounds, round_timeout=timeout))
    secagg = bool(config.get("secagg", True))
    workflow = DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(
        num_shares=int(config.get("num-shares", 3)),
        reconstruction_threshold=int(config.get("reconstruction-threshold", 2)),
        timeout=timeout) if secagg else None)
    workflow(prompt, legacy)  # type: ignore[arg-type]  # PromptGrid stands in for a Grid
    if any(h.get("aggregated") for h in log.record["history"]):
        record = log.finish("completed", model)
    else:
        record = log.finish("failed", model, "no round was aggregated: see each round's "
                                              "dropped nodes and reasons")
    noise = float(config.get("client-dp-noise", 0.0))
    if noise > 0:
        aggregated = sum(1 for h in record["history"] if h.get("aggregated"))
        record["client_dp"] = {"noise_multiplier": noise, "clip": float(config["client-clip"]),
                               "delta": float(config["delta"]),
                               "epsilon": client_level_epsilon(noise, aggregated,
                                                               float(config["delta"]))}
    _write(config, record)


def _write(config: dict[str, Any], record: dict[str, Any]) -> None:
    results = Path(str(config["results"]))
    results.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(results, json.dumps(record))
