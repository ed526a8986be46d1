"""Breaking a layer rule fails the check CI runs (.ci/checks): lint-imports over a copy of the
packages, once as they are and once with a forbidden import written into one of them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LAYERS = next(c for c in CONFIG["contracts"] if c["type"] == "layers")
RUFF = Path(sys.executable).with_name("ruff")


def copy_of_the_packages(into: Path) -> Path:
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, into / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", into)
    return into


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports as CI runs it, over ``tree`` (found first on the path, not the installed
    packages); wide columns so that the contract's name stays on one line."""
    return subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
                          cwd=tree, check=False, capture_output=True, text=True, timeout=300,
                          env=os.environ | {"PYTHONPATH": str(tree), "COLUMNS": "300"})


def test_the_packages_as_they_are_keep_the_layers(tmp_path: Path) -> None:
    done = lint_imports(copy_of_the_packages(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{LAYERS['name']} KEPT" in done.stdout
    assert " kept, 0 broken." in done.stdout


@pytest.mark.parametrize(("module", "imported"), [
    ("nodes", "coordinator"),      # the two runtimes meet only in the contract
    ("contract", "nodes"),         # the contract names neither side
    ("kernel", "privacy"),         # the kernel is the bottom layer
    ("privacy", "audit"),
    ("coordinator", "simulation"),  # the runtimes never reach the generated scenes
])
def test_a_forbidden_import_breaks_the_layers_contract(tmp_path: Path, module: str,
                                                       imported: str) -> None:
    tree = copy_of_the_packages(tmp_path)
    init = tree / module / "__init__.py"
    init.write_text(init.read_text() + f"\nimport {imported}  # breaks the layers\n")
    done = lint_imports(tree)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{LAYERS['name']} BROKEN" in done.stdout
    assert " kept, 1 broken." in done.stdout
    assert f"{module} is not allowed to import {imported}:" in done.stdout
    assert f"- {module} -> {imported} (l." in done.stdout


@pytest.mark.parametrize(("source", "code"), [
    ("import os\nimport sys\n\nprint(sys.argv)\n", "F401"),  # unused import
    ("import sys\nimport os\n\nprint(os.sep, sys.argv)\n", "I001"),  # unsorted imports
    ("def f(seen=[]):\n    return seen\n", "B006"),  # a mutable default shared by every call
])
def test_ruff_flags_what_the_rule_set_forbids(source: str, code: str) -> None:
    done = subprocess.run([str(RUFF), "check", "--no-cache", "--output-format", "concise",
                           "--stdin-filename", "kernel/example.py", "-"], input=source,
                          cwd=ROOT, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f" {code} " in done.stdout, done.stdout
