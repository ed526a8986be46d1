"""The node's Flower ClientApp: trains the run's task on the node's own data with DP-SGD and
answers through secure aggregation (SecAgg+), so no single node's update is seen in the clear.

Before a run the coordinator asks each node whether it takes part (``get_properties``): the node
declines, saying why, when it has too little data for the task or when the whole run would take
it past its privacy budget. Before training each round it records what the round costs in its
privacy ledger (the same ledger its aggregate answers spend from); a round that would exceed the
budget is refused with the ledger's reason and nothing is trained. The node trains only inside
secure aggregation: a run that asks for updates in the clear gets a refusal. When the run asks for
client-level DP, the node clips its update to the run's norm before it is masked, and the
coordinator adds the noise to the sum.

The SuperNode's node config names the node's settings file (``safecity-config``); the digits
benchmark adds ``partition-id`` and ``num-partitions``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from flwr.client import Client, ClientApp, NumPyClient
from flwr.client.mod import fixedclipping_mod, secaggplus_mod
from flwr.common import Context, Message, MessageType
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

from kernel.errors import ConfigError
from nodes.config import NodeSettings
from nodes.learning.egress_log import egress_logged
from nodes.learning.local_data import node_settings
from nodes.privacy_ledger import site_ledger
from privacy.dp.accounting import BudgetExceeded

if TYPE_CHECKING:
    from nodes.learning.dp_training import Plan
    from privacy.learning.tasks import Task

# torch and Opacus are imported where training happens: Flower starts a fresh process for every
# message, and three of the four SecAgg+ messages of a round need neither.

log = logging.getLogger(__name__)
CLIPPING_NORM = "clipping_norm"  # what Flower's client-side clipping wrapper sends



def check_run(task: Task, plan: Plan, settings: NodeSettings) -> None:
    """The node's own limits on what a run may ask, whatever the coordinator allowed."""
    if task.local_data is None and not plan.private:
        raise ConfigError(f"site {settings.site_id} trains {task.name} on its own recordings "
                          "only with DP-SGD (the run asked for epsilon 0)")
    if plan.epsilon > settings.max_training_epsilon:
        raise ConfigError(f"site {settings.site_id} spends at most epsilon "
                          f"{settings.max_training_epsilon:g} on one training run (the run "
                          f"asked for {plan.epsilon:g})")


class SiteClient(NumPyClient):
    def __init__(self, node_config: dict[str, Any]):
        self.node_config = node_config
        self.settings = node_settings(node_config)

    def get_properties(self, config: dict[str, Any]) -> dict[str, Any]:
        """Whether this node takes part in the run described by ``config``, and if not, why."""
        from nodes.learning.dp_training import Plan
        from nodes.learning.local_data import local_data
        from privacy.learning.tasks import get_task

        site = self.settings.site_id
        try:
            task = get_task(str(config["task"]))
            plan = Plan.from_config(config)
            check_run(task, plan, self.settings)
            examples = len(local_data(task, self.node_config)[0][1])
            if examples < self.settings.min_training_examples:
                raise ConfigError(f"site {site} has {examples} training examples for "
                                  f"{task.name}; it takes part from "
                                  f"{self.settings.min_training_examples}")
            book = site_ledger(self.settings)
            try:
                left = book.left()
                if plan.private:
                    book.check(plan.epsilon_after(examples, plan.rounds), plan.delta)
            finally:
                book.close()
        except (BudgetExceeded, ConfigError) as exc:
            log.warning("declined training run %s: %s", config.get("run"), exc)
            return {"site": site, "admitted": False, "reason": str(exc)}
        return {"site": site, "admitted": True, "epsilon-left": left.epsilon}

    def fit(self, arrays: list[np.ndarray], config: dict[str, Any]
            ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
        from nodes.learning.dp_training import Plan, spent, train
        from nodes.learning.local_data import local_data
        from privacy.learning.tasks import get_task, load_parameters, parameters

        task = get_task(str(config["task"]))
        plan = Plan.from_config(config)
        check_run(task, plan, self.settings)
        round_number, run = int(config["round"]), str(config["run"])
        train_data, _ = local_data(task, self.node_config)
        examples = len(train_data[1])
        total, noise = 0.0, None
        if plan.private:
            book = site_ledger(self.settings)
            try:  # raises BudgetExceeded, naming what is left, before any training
                done = book.training_rounds(run)
                noise = done[0][0] if done else None  # fixed at the run's first round
                step = plan.step(examples, noise)
                before, total = spent(done, plan.delta), spent([*done, step], plan.delta)
                book.spend_round(run, round_number, step, total - before,
                                 plan.delta if not done else 0.0)
                noise = step[0]
            finally:
                book.close()
        model = task.model()
        load_parameters(model, arrays)
        loss = train(model, train_data, plan, round_number, task.objective, noise)
        # under client-level DP every site weighs the same: the noise is set for that
        weight = 1 if CLIPPING_NORM in config else examples
        return parameters(model), weight, {"epsilon": total, "loss": loss,
                                           "site": self.settings.site_id}

    def evaluate(self, arrays: list[np.ndarray], config: dict[str, Any]
                 ) -> tuple[float, int, dict[str, Any]]:
        from nodes.learning.local_data import local_data
        from privacy.learning.tasks import get_task, load_parameters

        task = get_task(str(config["task"]))
        _, held_out = local_data(task, self.node_config)
        model = task.model()
        load_parameters(model, arrays)
        score = task.score(model, held_out)
        loss = 1.0 - score["accuracy"] if "accuracy" in score else next(iter(score.values()))
        return loss, len(held_out[1]), score


def secure_aggregation_only(message: Message, context: Context, call_next: Any) -> Message:
    """No update leaves this node in the clear: training is done only inside SecAgg+, whatever
    the coordinator asks."""
    if (message.metadata.message_type == MessageType.TRAIN
            and RECORD_KEY_CONFIGS not in message.content.config_records):
        raise ConfigError("this node sends model updates only under secure aggregation "
                          "(SecAgg+); the run asked for them in the clear")
    return call_next(message, context)


def clipping_when_asked(message: Message, context: Context, call_next: Any) -> Message:
    """Flower's client-side clipping, for runs with client-level DP only (the wrapper that asks
    for it puts the norm in the training config)."""
    fit_config = message.content.config_records.get("fitins.config")
    if (message.metadata.message_type == MessageType.TRAIN and fit_config is not None
            and CLIPPING_NORM in fit_config):
        return fixedclipping_mod(message, context, call_next)
    return call_next(message, context)


def client_fn(context: Context) -> Client:
    return SiteClient(dict(context.node_config)).to_client()


# secure aggregation outside the training: the update is clipped (if asked) before it is masked
# (outermost: what leaves the node is written down at the node)
app = ClientApp(client_fn=client_fn,
                mods=[egress_logged, secure_aggregation_only, secaggplus_mod,
                      clipping_when_asked])
