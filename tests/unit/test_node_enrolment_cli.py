"""`safecity node keys|enrol|worker` and `safecity warrant revoke`: the site operator's side."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from contract.queries import SignedRevocation
from nodes.cli import main
from privacy.signing import SigningKey
from tests.support.world import embedded_world


def test_keys_enrol_and_worker_preconditions(tmp_path: Path) -> None:
    world = embedded_world(tmp_path / "city")
    try:
        config = tmp_path / "node.toml"
        config.write_text(f'site_id = "site-q"\ndata_dir = "{tmp_path / "node"}"\n'
                          '[[cameras]]\nid = "gate"\nsource = "synthetic:"\n'
                          'location = "north gate"\npurpose = "public safety"\n')
        runner = CliRunner()
        keys = runner.invoke(main, ["node", "keys", "--config", str(config)])
        assert keys.exit_code == 0, keys.output
        public = json.loads(keys.output)
        assert oct((tmp_path / "node" / "keys" / "plate.key").stat().st_mode & 0o777) == "0o600"
        # the plate key never leaves the node (the notices only say plates are hidden)
        assert not any("plate" in k or "plate" in str(v) for k, v in public.items()
                       if k != "camera_notices")
        worker = runner.invoke(main, ["node", "worker", "--config", str(config)])
        assert worker.exit_code == 1 and "not enrolled" in worker.output

        assert public["flower_key"].startswith("ecdsa-sha2-nistp384 ")  # the SuperNode's
        assert oct((tmp_path / "node" / "keys" / "flower.key").stat().st_mode & 0o777) == "0o600"
        body = {"node_id": "q-1", "site_id": "site-q", "cameras": ["gate"],
                "identity_key": public["identity_key"], "sealing_key": public["sealing_key"],
                "camera_notices": public["camera_notices"]}
        for bad_key in ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA", "ecdsa-sha2-nistp384 AAAA",
                        "ecdsa-sha2-nistp384 " + "A" * 600):
            refused = world.client.post("/nodes", headers=world.as_("admin"),
                                        json=body | {"flower_key": bad_key})
            assert refused.status_code == 422, refused.text
            assert "flower_key" in refused.text
        response = world.client.post("/nodes", headers=world.as_("admin"),
                                     json=body | {"flower_key": public["flower_key"]})
        assert response.status_code == 201, response.text
        listed = world.client.get("/nodes", headers=world.as_("admin")).json()
        assert [n["federated"] for n in listed if n["node_id"] == "q-1"] == [True]
        document = tmp_path / "enrolment.json"
        document.write_text(json.dumps(response.json() | {"site_id": "site-z"}))
        wrong = runner.invoke(main, ["node", "enrol", "--config", str(config), str(document)])
        assert wrong.exit_code == 1 and "is for site site-z" in wrong.output
        document.write_text(json.dumps(response.json() | {"judge_keys": ["ed25519:nope"]}))
        bad = runner.invoke(main, ["node", "enrol", "--config", str(config), str(document)])
        assert bad.exit_code == 1 and "not a valid enrolment" in bad.output
        document.write_text(response.text)
        good = runner.invoke(main, ["node", "enrol", "--config", str(config), str(document)])
        assert good.exit_code == 0, good.output
        assert "enrolled as q-1: 1 judge key(s), 1 DPO key(s)" in good.output
        worker = runner.invoke(main, ["node", "worker", "--config", str(config)])
        assert worker.exit_code == 1 and "safecity vault init" in worker.output
    finally:
        world.close()


def test_warrant_revoke_signs_a_revocation(tmp_path: Path) -> None:
    key = SigningKey.generate()
    key.save(tmp_path / "judge.key")
    out = tmp_path / "revocation.json"
    result = CliRunner().invoke(main, ["warrant", "revoke", "--warrant-id", "w-1", "--reason",
                                       "case-closed", "--key", str(tmp_path / "judge.key"),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    signed = SignedRevocation.model_validate_json(out.read_text())
    assert signed.revocation.signed_by(key.public, signed.signature)
    assert signed.revocation.warrant_id == "w-1"
