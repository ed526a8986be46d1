"""Federated averaging (McMahan et al., "Communication-Efficient Learning of Deep Networks from
Decentralized Data", AISTATS 2017) over the nodes admitted to the run only: a node that declined
before the run (too little data, not enough privacy budget left) is never asked to train. Every
admitted node takes part in every round (no sampling: with a handful of sites each one's data
matters, and the privacy accounting at the nodes assumes it)."""

from __future__ import annotations

from typing import Any

from flwr.common import FitIns, Parameters
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.criterion import Criterion
from flwr.server.strategy import FedAvg


class Admitted(Criterion):
    def __init__(self, node_ids: set[int]):
        self.node_ids = {str(n) for n in node_ids}

    def select(self, client: ClientProxy) -> bool:
        return client.cid in self.node_ids


class AdmittedFedAvg(FedAvg):
    def __init__(self, admitted: set[int], **options: Any):
        super().__init__(**options)
        self.admitted = Admitted(admitted)

    def configure_fit(self, server_round: int, parameters: Parameters,
                      client_manager: ClientManager) -> list[tuple[ClientProxy, FitIns]]:
        """Every admitted node still connected; none (the round is skipped) when fewer than
        the run's minimum are."""
        config = self.on_fit_config_fn(server_round) if self.on_fit_config_fn else {}
        clients = [c for c in client_manager.all().values() if self.admitted.select(c)]
        if len(clients) < self.min_fit_clients:
            return []
        return [(client, FitIns(parameters, config)) for client in clients]
