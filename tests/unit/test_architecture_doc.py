"""The code cites docs/architecture.md by section title: every cited section exists, and nothing
cites the design document that used to live outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

# found by walking up, so the test reads the same repository wherever the tests folder puts it
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
SOURCES = ("kernel", "privacy", "audit", "contract", "nodes", "coordinator", "simulation")
CITATION = re.compile(r'docs/architecture\.md,\s*(?:#\s*)?"([^"]+)"')


def _cited_files() -> list[Path]:
    files = [ROOT / "pyproject.toml", ROOT / "README.md", ROOT / "SECURITY.md"]
    for package in SOURCES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def test_every_cited_section_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    sections = {line[3:].strip() for line in text.splitlines() if line.startswith("## ")}
    cited: dict[str, list[str]] = {}
    for path in _cited_files():
        # a citation may wrap onto a comment's or docstring's next line
        flat = re.sub(r"\s*\n\s*#?\s*", " ", path.read_text())
        for title in CITATION.findall(flat):
            cited.setdefault(" ".join(title.split()), []).append(str(path.relative_to(ROOT)))
    assert {"Layers", "Dependency facts", "Trust model"} <= cited.keys(), cited
    missing = {title: where for title, where in cited.items() if title not in sections}
    assert missing == {}, f"cited sections missing from docs/architecture.md: {missing}"


def test_nothing_cites_the_old_outside_document() -> None:
    stale = [str(path.relative_to(ROOT)) for path in _cited_files()
             if "ARCHITECTURE.md" in path.read_text() or "../shared/" in path.read_text()]
    assert stale == []
