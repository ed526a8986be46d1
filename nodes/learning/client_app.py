"""The node's Flower ClientApp: trains the run's task on the node's own data with DP-SGD and
answers through secure aggregation (SecAgg+), so no single node's update is seen in the clear.

Before training a round the node records what the round costs in its privacy ledger (the same
ledger its aggregate answers spend from); a round that would exceed the node's budget is refused
with the ledger's reason and nothing is trained. The SuperNode's node config names the node's
settings file (``safecity-config``); the digits benchmark adds ``partition-id`` and
``num-partitions``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import Context

from nodes.config import load_settings
from nodes.privacy_ledger import PrivacyLedger
from privacy.dp.accounting import Budget

# torch and Opacus are imported where training happens: Flower starts a fresh process for every
# message, and three of the four SecAgg+ messages of a round need neither.

log = logging.getLogger(__name__)


def ledger(node_config: dict[str, Any]) -> PrivacyLedger:
    settings = load_settings(Path(str(node_config["safecity-config"])))
    return PrivacyLedger(settings.data_dir / "privacy-ledger.sqlite",
                         Budget(settings.privacy_epsilon, settings.privacy_delta),
                         f"site {settings.site_id}")


class SiteClient(NumPyClient):
    def __init__(self, node_config: dict[str, Any]):
        self.node_config = node_config

    def fit(self, arrays: list[np.ndarray], config: dict[str, Any]
            ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
        from nodes.learning.dp_training import Plan, train
        from privacy.learning.tasks import get_task, load_parameters, parameters

        task = get_task(str(config["task"]))
        plan = Plan.from_config(config)
        round_number = int(config["round"])
        train_data, _ = task.local_data(self.node_config)
        examples = len(train_data[1])
        spent = 0.0
        if plan.private:
            before = plan.epsilon_after(examples, round_number - 1)
            spent = plan.epsilon_after(examples, round_number)
            book = ledger(self.node_config)
            try:  # raises BudgetExceeded, naming what is left, before any training
                book.spend(spent - before, plan.delta if round_number == 1 else 0.0,
                           f"training {config['run']} round {round_number}")
            finally:
                book.close()
        model = task.model()
        load_parameters(model, arrays)
        loss = train(model, train_data, plan, round_number)
        return parameters(model), examples, {"epsilon": spent, "loss": loss}

    def evaluate(self, arrays: list[np.ndarray], config: dict[str, Any]
                 ) -> tuple[float, int, dict[str, Any]]:
        from privacy.learning.tasks import get_task, load_parameters

        task = get_task(str(config["task"]))
        _, test = task.local_data(self.node_config)
        model = task.model()
        load_parameters(model, arrays)
        score = task.score(model, test)
        return 1.0 - score.get("accuracy", 0.0), len(test[1]), score


def client_fn(context: Context):  # type: ignore[no-untyped-def]
    return SiteClient(dict(context.node_config)).to_client()


app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
