"""docs/configuration.md is generated from the settings models and must be current; every
option carries a description."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]



def test_every_option_is_described_with_its_default_and_variable() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = [line for line in text.splitlines()
            if line.startswith("| `") and not line.startswith("| option")]
    assert len(rows) > 100
    undescribed = [row.split("|")[1].strip() for row in rows if row.rstrip().endswith("|  |")]
    assert undescribed == []
    assert "`SAFECITY_VAULT_RESERVE_MB`" in text and "`SAFECITY_COORDINATOR_DATABASE_URL`" in text
    assert "| `retention_days` | int | `30` |" in text
