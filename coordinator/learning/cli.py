"""``safecity fl``: the city's side of federated learning: run the SuperLink, start a training."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import click

from coordinator.cli import CONFIG_OPTION, OPERATOR_OPTION, settings_from
from kernel.errors import ConfigError, SafecityError, UsageError


@click.group()
def fl() -> None:
    """Federated learning: models trained at the sites, with DP-SGD and secure aggregation."""


@fl.command()
@CONFIG_OPTION
def superlink(config_path: Path | None) -> None:
    """Run the city's Flower SuperLink (TLS, SuperNode authentication) until stopped; once it
    answers, register the SuperNode key of every enrolled node."""
    from coordinator.learning.superlink import (
        SuperLink,
        register_enrolled,
        superlink_command,
        superlink_environment,
        wait_for_port,
    )
    from coordinator.learning.trainings import enrolled_keys
    from coordinator.service import Coordinator

    settings = settings_from(config_path)
    certificate, key, ca = (settings.flower_certificate, settings.flower_private_key,
                            settings.flower_ca)
    if (certificate is None or key is None or ca is None
            or not all(Path(f).is_file() for f in (certificate, key, ca))):
        raise ConfigError("set flower_certificate, flower_private_key and flower_ca to the "
                          "SuperLink's TLS files")
    home = settings.data_dir / "flower"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    port = int(settings.flower_superlink.rsplit(":", 1)[1])
    host = settings.flower_superlink.rsplit(":", 1)[0].strip("[]")
    command = superlink_command(port, certificate, key, ca, database=home / "superlink.db",
                                host=host, health=settings.flower_health_address)
    process = subprocess.Popen(command, env=superlink_environment(home))
    gateway = None
    if settings.flower_fleet_address:
        gateway = subprocess.Popen([sys.executable, "-c", "from nodes.cli import main; main()",
                                    "fl", "fleet-gateway", *(("--config", str(config_path))
                                                             if config_path else ())])
    children = [p for p in (process, gateway) if p is not None]

    def stop_children(*_: object) -> None:
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop_children)
    try:
        wait_for_port(settings.flower_superlink)
        svc = Coordinator.open(settings)
        try:
            keys = enrolled_keys(svc)
        finally:
            svc.close()
        register_enrolled(SuperLink(settings.flower_superlink, ca,
                                    settings.data_dir / "flower-cli"), keys)
        click.echo(f"SuperLink at {settings.flower_superlink}; {len(keys)} SuperNode key(s) "
                   "registered", err=True)
        code = process.wait()
        sys.exit(code)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
                child.wait(timeout=30)


@fl.command("fleet-gateway")
@CONFIG_OPTION
def fleet_gateway_command(config_path: Path | None) -> None:
    """Serve the Fleet API gateway at flower_fleet_address (TLS) until stopped; `fl superlink`
    starts it when the config names that address."""
    import uvicorn

    from coordinator.learning.fleet_gateway import fleet_gateway

    settings = settings_from(config_path)
    if not settings.flower_fleet_address:
        raise ConfigError("set flower_fleet_address (host:port) for the Fleet API gateway")
    if settings.flower_certificate is None or settings.flower_private_key is None \
            or settings.flower_ca is None:
        raise ConfigError("set flower_certificate, flower_private_key and flower_ca")
    host, port = settings.flower_fleet_address.rsplit(":", 1)
    uvicorn.run(fleet_gateway(settings.flower_superlink, settings.flower_ca),
                host=host.strip("[]"), port=int(port), log_level="warning", access_log=False,
                ssl_certfile=settings.flower_certificate, ssl_keyfile=settings.flower_private_key)


@fl.command()
@CONFIG_OPTION
@click.argument("task")
@click.option("--rounds", type=int, required=True)
@click.option("--epsilon", type=float, required=True,
              help="Record-level epsilon each node may spend on the whole run.")
@click.option("--delta", type=float, default=1e-5, show_default=True)
@click.option("--min-nodes", type=int, default=2, show_default=True)
@click.option("--set", "options", multiple=True, metavar="KEY=VALUE",
              help="Further run config, e.g. learning-rate=0.5 or client-dp-noise=1.0.")
@OPERATOR_OPTION
def start(config_path: Path | None, task: str, rounds: int, epsilon: float, delta: float,
          min_nodes: int, options: tuple[str, ...], operator_name: str | None) -> None:
    """Train TASK across the enrolled sites; logged before it starts (naming who started it)
    and when it ends."""
    from coordinator.console_operator import operator
    from coordinator.learning.superlink import SuperLink
    from coordinator.learning.trainings import TrainingRequest, start_training
    from coordinator.roles import Permission
    from coordinator.service import Coordinator

    settings = settings_from(config_path)
    if settings.flower_ca is None:
        raise ConfigError("set flower_ca (the city CA certificate the SuperLink's TLS "
                          "certificate chains to) in the coordinator config")
    request = TrainingRequest(task, rounds, epsilon, delta, min_nodes, _options(options))
    request.check(settings.max_training_epsilon)
    svc = Coordinator.open(settings)
    try:
        who = operator(svc, operator_name, Permission.TRAINING_START)
        link = SuperLink(settings.flower_superlink, settings.flower_ca,
                         settings.data_dir / "flower-cli")
        summary = start_training(svc, link, request, who.actor)
    finally:
        svc.close()
    click.echo(json.dumps(summary, indent=2))
    if summary["status"] != "completed":
        raise SafecityError(f"the run did not train: {summary.get('reason')}")


def _options(pairs: tuple[str, ...]) -> tuple[tuple[str, object], ...]:
    found: list[tuple[str, object]] = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {pair!r}: not KEY=VALUE")
        try:
            value: object = json.loads(text)
        except ValueError:
            value = text
        if not isinstance(value, (int, float, str, bool)):
            raise UsageError(f"--set {key}: a number, a string or true/false")
        found.append((key, value))
    return tuple(found)
