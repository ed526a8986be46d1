"""The offline-check hints on the DPO's entry page and the citizen's verify page are the actual
commands, with this coordinator's address, its log key and its witnesses' keys (issue 24)."""

from __future__ import annotations

import shlex
from pathlib import Path

from markupsafe import escape

from coordinator.web.offline_check import prove_entry, witness_keys
from tests.support.world import embedded_world


def test_the_hints_name_the_real_url_and_keys(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        log_key = world.svc.audit.signer.verifier.vkey()
        witnesses = witness_keys(world.settings)
        assert witnesses  # the world's city names witnesses
        entry = world.client.get("/console/entries/0", headers=world.as_("dpo")).text
        prove, check = prove_entry("http://testserver/", 0, log_key, witnesses)
        assert prove == "safecity audit prove 0 --url http://testserver --out receipt-0.json"
        assert shlex.split(check)[4:6] == ["--log-key", log_key]
        assert shlex.split(check).count("--witness-key") == len(witnesses)
        assert prove in entry and escape(shlex.quote(log_key)) in entry and "…" not in entry
        verify = world.client.get("/portal/verify").text
        assert escape(f"safecity audit verify --url http://testserver --log-key "
                      f"{shlex.quote(log_key)}") in verify
        assert "KEY</code>" not in verify
    finally:
        world.close()
