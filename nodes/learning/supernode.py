"""How a site runs its Flower SuperNode: connecting out to the city's SuperLink over TLS
(verifying the SuperLink's certificate against the city CA the node was given), authenticating
with the site's own SuperNode key, the safecity ClientApp run from the installed packages, and
no runtime dependency installation."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from kernel.errors import ConfigError
from nodes.city_ca import pinned_ca
from nodes.config import NodeSettings
from nodes.learning.flower_key import flower_key

BIN = Path(sys.executable).parent


def node_config(config_file: Path, extra: dict[str, Any]) -> str:
    """Flower's ``--node-config``: the node's settings file and any task options."""
    values = {"safecity-config": str(config_file.resolve()), **extra}
    return " ".join(f"{k}={json.dumps(v)}" for k, v in values.items())


def supernode_command(settings: NodeSettings, config_file: Path, superlink: str | None,
                      ca_certificate: Path | None, extra: dict[str, Any], port: int
                      ) -> list[str]:
    address = superlink or settings.flower_superlink
    ca = ca_certificate or settings.flower_ca or pinned_ca(settings.data_dir)
    if not address or ca is None:
        raise ConfigError("set flower_superlink (host:port) and flower_ca (the city CA's "
                          "certificate) in the node config, or pass --superlink and --ca "
                          "(the CA pinned at enrolment is used when there is one)")
    if not Path(ca).is_file():
        raise ConfigError(f"flower_ca: no certificate file at {ca}")
    key, _ = flower_key(settings.keys_dir)
    command = [str(BIN / "flower-supernode"), "--root-certificates", str(ca),
               "--superlink", address, "--port", str(port), "--auth-supernode-private-key",
               str(key), "--node-config", node_config(config_file, extra)]
    if settings.flower_health_address:
        command += ["--health-server-address", settings.flower_health_address]
    return command


def supernode_environment() -> dict[str, str]:
    return {**os.environ, "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            # the SuperNode starts flower-superexec and the ClientApp by name
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
