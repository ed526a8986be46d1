"""Write ``docs/configuration.md`` from the settings models: ``python docs/configuration.py``.
With ``--check`` it only compares, and exits 1 when the file is out of date (the tests run it)."""

from __future__ import annotations

import sys
from pathlib import Path

from coordinator.config import CoordinatorSettings
from nodes.config import NodeSettings
from privacy.settings_reference import reference

TARGET = Path(__file__).with_name("configuration.md")
INTRO = """# Configuration reference

Generated from the settings models by `python docs/configuration.py`; the test suite fails when
this file and the code disagree. Each process reads one TOML file (`--config`); an environment
variable overrides the file. Lists of tables (`[[cameras]]`) are set from the environment as JSON.

"""


def render() -> str:
    return INTRO + "\n".join([
        reference("Node (`safecity node ...`, `safecity vault ...`, `safecity demo`)",
                  NodeSettings, "node.toml"),
        reference("Coordinator (`safecity coordinator ...`, `safecity fl ...`)",
                  CoordinatorSettings, "coordinator.toml"),
    ])


def main(check: bool) -> int:
    text = render()
    if check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run `python docs/configuration.py`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
