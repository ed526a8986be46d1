"""How much the test suite checks: the tests pytest collects (slow ones included) and the
assertions written in tests/ (``assert`` statements and ``pytest.raises`` uses, counted in the
syntax tree). A change that moves or speeds up tests must not make either number fall.

Usage: ``python .ci/count_tests.py [REPOSITORY]`` (default: this one), run with the Python of
the environment the tests run in.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path


def collected(root: Path) -> tuple[int, Counter[str]]:
    """The number of tests collected, and per folder under tests/ (the tiers)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow or not slow",
         "-p", "no:cacheprovider", "tests"],
        cwd=root, capture_output=True, text=True, check=False)
    total = re.search(r"(\d+)(?:/\d+)? tests? collected", done.stdout)
    if done.returncode != 0 or total is None:
        sys.exit(f"collection failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    per_folder: Counter[str] = Counter()
    for line in done.stdout.splitlines():
        if line.startswith("tests/") and "::" in line:
            parts = line.split("::", 1)[0].split("/")
            per_folder[parts[1] if len(parts) > 2 else "."] += 1
    return int(total.group(1)), per_folder


def assertions(root: Path) -> tuple[int, int]:
    """``assert`` statements and ``pytest.raises`` uses in every module under tests/."""
    asserts = raises = 0
    for path in sorted((root / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Assert):
                asserts += 1
            elif (isinstance(node, ast.Attribute) and node.attr == "raises"
                  and isinstance(node.value, ast.Name) and node.value.id == "pytest"):
                raises += 1
    return asserts, raises


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
    tests, per_folder = collected(root)
    asserts, raises = assertions(root)
    print(f"tests collected: {tests}")
    for folder, number in sorted(per_folder.items()):
        print(f"  tests/{folder}: {number}" if folder != "." else f"  tests/: {number}")
    print(f"assertions: {asserts + raises} ({asserts} assert statements, "
          f"{raises} pytest.raises)")


if __name__ == "__main__":
    main()
