"""Running a federated training for the city, as the coordinator does it: log the decision
first, register the enrolled sites' SuperNode keys with the SuperLink, run the Flower App, then
log what happened at every site (took part, dropped out, declined and why; the epsilon it
spent) and the run's end, and send a deployed task's model back to the nodes, signed.

The public log carries the run's task, its sites and each site's privacy loss, so the
transparency report can list trainings and the budget spent per site. For a site that dropped
out the loss logged is the run's whole epsilon: what it may have spent, not what it reported."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from audit.records import Action, Actor, Event, LegalBasis, PrivacyLoss, Scope, TrainingRun
from audit.transparency import RUN_OUTCOMES, SITE_OUTCOMES
from contract.models import SignedModel, pack
from contract.tasks import MODEL_TASK
from coordinator.db import Node
from coordinator.errors import DispatchError
from coordinator.learning.superlink import SuperLink, register_enrolled
from coordinator.service import Coordinator
from kernel.atomic_file import write_atomic
from kernel.errors import ConfigError
from privacy.learning.tasks import get_task

log = logging.getLogger(__name__)
PURPOSE = "model_training"


@dataclass(frozen=True)
class TrainingRequest:
    task: str
    rounds: int
    epsilon: float
    delta: float = 1e-5
    min_nodes: int = 2
    options: tuple[tuple[str, Any], ...] = ()  # further run config (learning rate, ...)

    def check(self, max_epsilon: float) -> None:
        get_task(self.task)  # names the tasks there are when this one is not
        if not 1 <= self.rounds <= 1000:
            raise ConfigError("a training runs 1 to 1000 rounds")
        if not 0 <= self.epsilon <= max_epsilon:
            raise ConfigError(f"a training may spend epsilon 0 to {max_epsilon:g} at each "
                              "node (0: no DP-SGD, for public benchmarks only)")
        if self.epsilon == 0 and get_task(self.task).public_test is None:
            raise ConfigError(f"{self.task} trains on the sites' own data: it needs epsilon > 0")
        if not 0 < self.delta < 1e-3:
            raise ConfigError("delta must be in (0, 0.001)")
        if self.min_nodes < 2:
            raise ConfigError("secure aggregation needs at least 2 nodes")


def enrolled_keys(svc: Coordinator) -> list[tuple[str, str]]:
    """(node id, SuperNode key) of every active enrolled node that has one."""
    with svc.session() as session:
        return [(n, k) for n, k in session.execute(
            select(Node.node_id, Node.flower_key).where(Node.active, Node.flower_key.is_not(None))
            .order_by(Node.node_id)).all() if k is not None]  # none is NULL: narrows the type


def _system(svc: Coordinator) -> Actor:
    return svc.actor("coordinator", "system", "city")


def start_training(svc: Coordinator, superlink: SuperLink, request: TrainingRequest,
                   who: Actor) -> dict[str, Any]:
    """Run one training end to end; the run's summary (its record, less the parameters)."""
    request.check(svc.settings.max_training_epsilon)
    task = get_task(request.task)
    with svc.session() as session:
        nodes = session.scalars(select(Node).where(Node.active, Node.flower_key.is_not(None))
                                .order_by(Node.node_id)).all()
    if len(nodes) < request.min_nodes:
        raise ConfigError(f"{len(nodes)} enrolled node(s) have a SuperNode key; the run needs "
                          f"{request.min_nodes}")
    run_id = f"{task.name}-{uuid.uuid4().hex[:12]}"
    sites = tuple(sorted({n.site_id for n in nodes}))
    started, _, _, failed = RUN_OUTCOMES
    svc.log(Event(actor=who, action=Action.TRAINING_RUN, legal_basis=LegalBasis.STATUTE,
                  purpose_code=PURPOSE, outcome=started, scope=Scope(sites=sites),
                  training=TrainingRun(run_id=run_id, task=task.name, rounds=request.rounds),
                  details={"epsilon": f"{request.epsilon:g}", "delta": f"{request.delta:g}",
                           "min_nodes": request.min_nodes}))
    svc.settings.trainings_dir.mkdir(parents=True, exist_ok=True)
    results = svc.settings.trainings_dir / f"{run_id}.json"
    try:
        register_enrolled(superlink, enrolled_keys(svc))
        record = superlink.run(results, task=task.name, rounds=request.rounds,
                               epsilon=request.epsilon, delta=request.delta, run=run_id,
                               **{"min-nodes": request.min_nodes, "expected-nodes": len(nodes)},
                               **dict(request.options))
    except Exception as exc:
        svc.log(Event(actor=_system(svc), action=Action.TRAINING_RUN,
                      legal_basis=LegalBasis.STATUTE, purpose_code=PURPOSE, outcome=failed,
                      scope=Scope(sites=sites),
                      training=TrainingRun(run_id=run_id, task=task.name, rounds=0),
                      details={"reason": str(exc)[:2000]}))
        raise
    _log_sites(svc, record, request)
    took_part = tuple(sorted({s for h in record["history"] for s in h.get("sites", ())}))
    outcome = {"completed": "completed", "declined": "not_started",
               "failed": "failed"}[record["status"]]
    svc.log(Event(actor=_system(svc), action=Action.TRAINING_RUN,
                  legal_basis=LegalBasis.STATUTE, purpose_code=PURPOSE,
                  outcome=outcome, scope=Scope(sites=took_part),
                  training=TrainingRun(run_id=run_id, task=task.name,
                                       rounds=int(record.get("rounds_completed", 0))),
                  details={"seconds": str(record.get("seconds")),
                           "reason": record.get("reason")}))
    summary = {k: v for k, v in record.items() if k != "parameters"}
    if task.deployed and record["status"] == "completed" and took_part:
        summary["deployed"] = deploy(svc, record, [n for n in nodes if n.site_id in took_part],
                                     results.with_suffix(".model.json"))
    write_atomic(results, json.dumps(summary, indent=2))
    return summary


def _log_sites(svc: Coordinator, record: dict[str, Any], request: TrainingRequest) -> None:
    history = record["history"][1:]
    for part in record["participants"]:
        site = part["site"]
        rounds = sum(site in h.get("sites", ()) for h in history)
        asked = rounds + sum(any(d["site"] == site for d in h.get("dropped", ()))
                             for h in history)
        trained, dropped, declined = SITE_OUTCOMES
        if not part["admitted"]:
            outcome, loss, reason = declined, None, part.get("reason")
        elif asked > rounds:
            reasons = {d["reason"] for h in history for d in h.get("dropped", ())
                       if d["site"] == site}
            outcome, loss = dropped, PrivacyLoss.of(request.epsilon, request.delta)
            reason = "; ".join(sorted(reasons))
        elif rounds == 0:  # admitted, then gone before it was asked to train: spent nothing
            outcome, loss, reason = dropped, None, "not connected when the rounds ran"
        else:
            spent = float(record["epsilon_spent"].get(site, 0.0))
            outcome, reason = trained, None
            loss = PrivacyLoss.of(spent, request.delta if spent > 0 else 0.0)
        svc.log(Event(actor=_system(svc), action=Action.TRAINING_RUN,
                      legal_basis=LegalBasis.STATUTE, purpose_code=PURPOSE, outcome=outcome,
                      scope=Scope(sites=(site,)), privacy_loss=loss,
                      training=TrainingRun(run_id=record["run"], task=record["task"],
                                           rounds=rounds),
                      details={"reason": (reason or "")[:2000]}))


def deploy(svc: Coordinator, record: dict[str, Any], nodes: list[Node], path: Path
           ) -> dict[str, str]:
    """Sign the trained model and send it to each node's queue; per node, sent or why not."""
    arrays = [np.asarray(a, dtype=np.float32) for a in record["parameters"]]
    model = pack(record["task"], record["run"], arrays, svc.clock())
    signed = SignedModel(model=model, signature=model.sign(svc.keys.dispatch))
    write_atomic(path, signed.model_dump_json())
    sent = {}
    for node in nodes:
        try:
            svc.dispatcher.send(MODEL_TASK, signed.model_dump(mode="json"), node.node_id,
                                f"model-{record['run']}-{node.node_id}")
            sent[node.node_id] = "sent"
        except DispatchError as exc:
            log.warning("model for %s not sent: %s", node.node_id, exc)
            sent[node.node_id] = f"not sent: {exc}"
    svc.log(Event(actor=_system(svc), action=Action.CONFIG_CHANGE,
                  legal_basis=LegalBasis.STATUTE, purpose_code=PURPOSE, outcome="model_deployed",
                  scope=Scope(sites=tuple(sorted({n.site_id for n in nodes}))),
                  recipients=tuple(n.node_id for n in nodes),
                  training=TrainingRun(run_id=record["run"], task=record["task"],
                                       rounds=int(record.get("rounds_completed", 0))),
                  details={"sha256": model.sha256, "package": str(path)}))
    return sent
