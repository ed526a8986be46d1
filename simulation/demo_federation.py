"""The federated part of the demo, run with the commands a city runs on separate hosts: the
coordinator's SuperLink (`safecity fl superlink`, TLS from a city CA made here), a SuperNode at
the demo site and at a second site (`safecity node supernode`), and `safecity fl start` training
the unusual-behaviour model on the two sites' trajectories with DP-SGD under SecAgg+. The demo
node's worker then installs the signed model it is sent.

The two sites' trajectories are scripted behaviour of the demo city's station corridors, as
recorded over some days (the demo's own clips are seconds long); nothing leaves either site."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from contract.camera_placement import Placement
from kernel.errors import SafecityError
from nodes.analytics.trajectories import TrajectoryStore
from nodes.camera_notices import placement_line
from nodes.config import NodeSettings, load_settings
from nodes.enrolment_request import enrolment_request
from privacy.pki import issue, make_ca
from simulation.behaviours import site_trajectories

RECORDED = 200  # tracks per site
ROUNDS, EPSILON = 3, 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _record(settings: NodeSettings, site: int) -> None:
    store = TrajectoryStore(settings.stores.trajectories,
                            settings.trajectory_retention_days)
    try:
        store.add_many("corridor", datetime.now(UTC), [
            ("person", t) for t in site_trajectories(site, RECORDED, seed=2026,
                                                     unusual_fraction=0.02)])
    finally:
        store.close()


def enrol_second_site(out: Path, http: httpx.Client, admin: dict[str, str]) -> Path:
    """A second camera site, enrolled with its keys (its cameras are not part of the demo)."""
    config = out / "north-hall.toml"
    # its camera is configured (not run in the demo) so that its notice states what it does
    config.write_text(f'site_id = "north-hall"\ndata_dir = "{(out / "north-hall").as_posix()}"\n'
                      '[[cameras]]\nid = "hall"\nsource = "synthetic:"\n'
                      'location = "north hall, main entrance"\npurpose = "public safety"\n'
                      # at the hall's door on the demo city's outline, looking out to the north
                      + placement_line(Placement(latitude=50.00360, longitude=8.00480,
                                                 heading=0, field_of_view=80, range_m=30)))
    settings = load_settings(config)
    enrolled = http.post("/nodes", headers=admin,
                         json=enrolment_request(settings))  # as `safecity node keys` prints it
    enrolled.raise_for_status()
    return config


def federate(out: Path, coordinator_config: Path, node: NodeSettings, node_config: Path,
             second_config: Path, process: Any, run: Any) -> dict[str, Any]:
    """Run the training; ``process`` starts safecity commands in the background (each an
    ``(arguments, log file)`` pair, stopped together) and ``run`` runs one to its end (the
    demo's helpers)."""
    ca = make_ca(out / "pki", "demo city CA")
    host = issue(ca, out / "pki", "superlink", ["127.0.0.1", "localhost"])
    address = f"127.0.0.1:{_free_port()}"
    with coordinator_config.open("a") as handle:
        handle.write(f'flower_superlink = "{address}"\nflower_ca = "{ca.certificate.as_posix()}"\n'
                     f'flower_certificate = "{host.certificate.as_posix()}"\n'
                     f'flower_private_key = "{host.key.as_posix()}"\n')
    for index, settings in enumerate((node, load_settings(second_config))):
        _record(settings, index)
    supernode = ["node", "supernode", "--superlink", address, "--ca", str(ca.certificate)]
    with process((["fl", "superlink", "--config", str(coordinator_config)],
                  out / "superlink.log")):
        _wait_for_registration(out / "superlink.log")
        # stopped together, before the SuperLink they say goodbye to
        with process(([*supernode, "--config", str(node_config), "--port", str(_free_port())],
                      out / "supernode-demo.log"),
                     ([*supernode, "--config", str(second_config),
                       "--port", str(_free_port())], out / "supernode-north-hall.log")):
            summary = json.loads(run("fl", "start", "trajectory", "--rounds", str(ROUNDS),
                                     "--epsilon", str(EPSILON), "--as", "admin", "--config",
                                     str(coordinator_config)))
    installed = node.data_dir / "models" / "trajectory.json"
    for _ in range(600):  # the demo node's worker takes the model off its queue
        if installed.exists():
            break
        time.sleep(0.1)
    return {"training": {"run": summary["run"], "status": summary["status"],
                         "rounds": summary.get("rounds_completed"),
                         "epsilon_spent": summary["epsilon_spent"],
                         "deployed": summary.get("deployed", {}),
                         "installed_at_demo_node": installed.exists()}}


def _wait_for_registration(log: Path) -> None:
    """Until the SuperLink answers and has registered the enrolled SuperNode keys (a SuperNode
    that connects before its key is registered is refused)."""
    for _ in range(1200):
        if log.exists() and "SuperNode key(s) registered" in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise SafecityError(f"the SuperLink did not start; see {log}")
