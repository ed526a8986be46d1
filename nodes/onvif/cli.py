"""``safecity node cameras``: find ONVIF cameras on the site's network, look up their streams,
and keep their credentials in a file of their own."""

from __future__ import annotations

import json
from pathlib import Path

import click

_CREDENTIALS = click.option(
    "--credentials", "credentials_file", type=click.Path(dir_okay=False, path_type=Path),
    help="The camera's credentials file (from `safecity node cameras credentials`).")


@click.group("cameras")
def cameras() -> None:
    """Find the site's ONVIF cameras and the streams to configure."""


@cameras.command("discover")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0, show_default=True,
              help="Seconds to wait for answers.")
@click.option("--interface", "interfaces", multiple=True,
              help="Probe on this interface only (repeat for more; default: all but loopback).")
def discover_command(timeout: float, interfaces: tuple[str, ...]) -> None:
    """Multicast a WS-Discovery probe and print one JSON line per camera that answered."""
    from nodes.onvif.discovery import discover

    devices = discover(timeout, interfaces)
    for device in devices:
        click.echo(json.dumps(device.summary()))
    click.echo(f"{len(devices)} camera(s) answered", err=True)


@cameras.command("lookup")
@click.argument("address")
@_CREDENTIALS
@click.option("--timeout", type=click.FloatRange(0.5, 120), default=10.0, show_default=True)
def lookup_command(address: str, credentials_file: Path | None, timeout: float) -> None:
    """Ask the camera at ADDRESS (host[:port], from `discover`) for its identity and streams;
    prints them (without credentials) and the `source` to put in the node's configuration."""
    from nodes.onvif.credentials import read_credentials
    from nodes.onvif.streams import lookup

    credentials = read_credentials(credentials_file) if credentials_file else None
    click.echo(json.dumps(lookup(address, credentials, timeout).summary(), indent=2))


@cameras.command("credentials")
@click.option("--username", required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def credentials_command(username: str, out: Path, password_stdin: bool) -> None:
    """Write a camera's credentials to OUT, readable by this user only; name it in the camera's
    `credentials_file`."""
    import sys

    from nodes.onvif.credentials import CameraCredentials, write_credentials

    password = (sys.stdin.readline().rstrip("\n") if password_stdin
                else click.prompt("Camera password", hide_input=True, confirmation_prompt=True))
    write_credentials(out, CameraCredentials(username, password))
    click.echo(f"wrote {out} (mode 0600)")
