"""``safecity pki``: a city CA and the certificates of its hosts, for cities without a PKI of
their own; the ``--model-dir`` option every command that loads models takes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from kernel.errors import SafecityError
from privacy import model_registry

model_dir_option = click.option(
    "--model-dir", type=click.Path(file_okay=False, path_type=Path),
    envvar="SAFECITY_MODEL_DIR", default=model_registry.default_cache_dir,
    show_default="$XDG_CACHE_HOME/safecity/models", help="Local model cache.",
)


@click.group()
def pki() -> None:
    """TLS for a city without its own PKI: a city CA and a certificate per host."""


@pki.command("init")
@click.option("--out", "folder", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for ca.pem and ca.key (0600); keep ca.key offline.")
@click.option("--name", default="safecity city CA", show_default=True)
@click.option("--days", default=3650, show_default=True, type=click.IntRange(1, 36500))
def pki_init(folder: Path, name: str, days: int) -> None:
    """Make the city CA (refuses to overwrite one)."""
    from privacy.pki import fingerprint, make_ca

    if (folder / "ca.key").exists():
        raise SafecityError(f"{folder / 'ca.key'} exists: a city has one CA")
    ca = make_ca(folder, name, days)
    click.echo(json.dumps({"certificate": str(ca.certificate), "key": str(ca.key),
                           "sha256": fingerprint(ca.certificate)}, indent=2))


@pki.command("issue")
@click.option("--ca", "ca_folder", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--name", required=True, help="The host's name: its files are NAME.pem/.key.")
@click.option("--host", "hosts", multiple=True, required=True,
              help="A DNS name or IP address the host is reached at (repeat).")
@click.option("--out", "folder", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--days", default=825, show_default=True, type=click.IntRange(1, 3650))
def pki_issue(ca_folder: Path, name: str, hosts: tuple[str, ...], folder: Path,
              days: int) -> None:
    """Issue a host's TLS certificate for its names and addresses."""
    from privacy.pki import fingerprint, issue, load_ca

    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,62}", name):
        raise SafecityError(f"--name {name!r}: lower-case letters, digits, . _ - only")
    issued = issue(load_ca(ca_folder), folder, name, list(hosts), days)
    click.echo(json.dumps({"certificate": str(issued.certificate), "key": str(issued.key),
                           "hosts": list(hosts), "sha256": fingerprint(issued.certificate)},
                          indent=2))
