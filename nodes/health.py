"""Health, readiness and metrics of a node's processes (``node run``, ``node worker``), served
when the node's config names a port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from kernel.health_server import Checks, HealthServer, probes
from nodes import metrics
from nodes.config import NodeSettings
from nodes.privacy_ledger import site_ledger

_registered = threading.Lock()
_state: list[metrics.NodeState] = []


def _watch(settings: NodeSettings) -> None:
    """Once per process: the node-wide gauges read when scraped."""
    with _registered:
        if not _state:
            _state.append(metrics.NodeState(lambda: site_ledger(settings).left().epsilon,
                                            settings.data_dir))
            metrics.REGISTRY.register(_state[0])


def serving(settings: NodeSettings, port: int | None, checks: Checks
            ) -> AbstractContextManager[HealthServer | None]:
    if port is None:
        return nullcontext()
    _watch(settings)
    return HealthServer(settings.health_host, port, metrics.REGISTRY, checks)


def broker_check(connect: Callable[[], object]) -> Checks:
    return probes(broker=connect)
