"""`safecity node keys|enrol|worker` and `safecity warrant revoke`: the site operator's side."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from contract.queries import SignedRevocation
from nodes.cli import main
from privacy.signing import SigningKey
from tests.support.problem_details import problem
from tests.support.world import embedded_world


def test_keys_enrol_and_worker_preconditions(tmp_path: Path) -> None:
    world = embedded_world(tmp_path / "city")
    try:
        config = tmp_path / "node.toml"
        config.write_text(f'site_id = "site-q"\ndata_dir = "{tmp_path / "node"}"\n'
                          '[[cameras]]\nid = "gate"\nsource = "synthetic:"\n'
                          'location = "north gate"\npurpose = "public safety"\n')
        runner = CliRunner()
        keys = runner.invoke(main, ["node", "keys", "--config", str(config), "--node-id", "q-1"])
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
        assert (public["node_id"], public["site_id"], public["cameras"]) == (
            "q-1", "site-q", ["gate"])
        for bad_key in ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA", "ecdsa-sha2-nistp384 AAAA",
                        "ecdsa-sha2-nistp384 " + "A" * 600):
            refused = world.client.post("/nodes", headers=world.as_("admin"),
                                        json=public | {"flower_key": bad_key})
            assert refused.status_code == 422, refused.text
            assert "flower_key" in refused.text
        response = world.client.post("/nodes", headers=world.as_("admin"),
                                     json=public)  # as printed
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


def test_the_printed_document_enrols_as_printed_or_says_everything_at_once(
        tmp_path: Path) -> None:
    """Issue 24: `node keys` prints what `POST /nodes` takes as is; a document that is not
    right is refused once with every invalid field; enrolling before the judges' and DPOs'
    keys exist says what to do first, with commands that work."""
    world = embedded_world(tmp_path / "city")
    try:
        config = tmp_path / "node.toml"
        config.write_text(f'site_id = "site-p"\ndata_dir = "{tmp_path / "node"}"\n'
                          '[[cameras]]\nid = "gate"\nsource = "synthetic:"\n'
                          'location = "north gate"\npurpose = "public safety"\n'
                          '[[cameras]]\nid = "yard"\nsource = "synthetic:"\n'
                          'location = "yard"\npurpose = "public safety"\n')
        runner = CliRunner()
        bad_id = runner.invoke(main, ["node", "keys", "--config", str(config),
                                      "--node-id", "Not An Id"])
        assert bad_id.exit_code != 0 and "--node-id" in bad_id.output
        printed = runner.invoke(main, ["node", "keys", "--config", str(config)])
        assert printed.exit_code == 0, printed.output
        document = json.loads(printed.output)
        assert (document["node_id"], document["site_id"], document["cameras"]) == (
            "site-p-node", "site-p", ["gate", "yard"])

        # an older printout (no node_id, site_id or cameras) with a typo in a key: one 422
        # naming every problem, each as a JSON Pointer into the document
        old = {k: v for k, v in document.items() if k not in ("node_id", "site_id", "cameras")}
        refused = world.client.post("/nodes", headers=world.as_("admin"),
                                    json=old | {"sealing_key": "x25519:nope"})
        body = problem(refused, 422, "invalid")
        pointers = {e["pointer"] for e in body["errors"]}
        assert pointers == {"#/node_id", "#/site_id", "#/sealing_key"}, body
        assert all(p.removeprefix("#/") in body["detail"] for p in pointers), body
        assert body["detail"].startswith("3 invalid field(s)")

        # a key_id that is not the identity key's fingerprint: altered or mixed up
        other = json.loads(runner.invoke(main, ["node", "keys", "--config", str(
            _second_node(tmp_path))]).output)
        mixed = world.client.post("/nodes", headers=world.as_("admin"),
                                  json=document | {"key_id": other["key_id"]})
        assert "is not the fingerprint of identity_key" in problem(mixed, 422, "invalid")[
            "detail"]

        # before judges and DPOs are registered (here: theirs disabled), a 409 with the steps
        for name in ("judge", "dpo"):
            gone = world.client.post(f"/users/{name}/disable", headers=world.as_("admin"))
            assert gone.status_code == 200 and "stays pinned" in gone.json()["note"], gone.text
        early = problem(world.client.post("/nodes", headers=world.as_("admin"), json=document),
                        409, "no_signers")
        assert early["missing"] == ["judge", "dpo"] and len(early["steps"]) == 2, early
        assert "safecity warrant keygen --out judge.key" in early["detail"]
        # each step's add-user command, run as written (with the real key), registers them
        coordinator_config = tmp_path / "coordinator.toml"
        coordinator_config.write_text(world.config_text())
        for step, role in zip(early["steps"], ("judge", "dpo"), strict=True):
            command = shlex.split(re.search(r"`safecity (coordinator add-user [^`]*)`",
                                            step)[1])
            key = SigningKey.generate().public.text()
            command = [key if part == "ed25519:..." else
                       str(coordinator_config) if part.endswith("coordinator.toml") else part
                       for part in command]
            assert f"--role {role}" in " ".join(command) and "--as admin" in " ".join(command)
            added = runner.invoke(main, [*command, "--password-stdin"],
                                  input="a long enough password\n")
            assert added.exit_code == 0, added.output
        enrolled = world.client.post("/nodes", headers=world.as_("admin"), json=document)
        assert enrolled.status_code == 201, enrolled.text
        assert enrolled.json()["node_id"] == "site-p-node"
        assert len(enrolled.json()["judge_keys"]) == 1  # the newly registered judge's key
    finally:
        world.close()


def _second_node(tmp_path: Path) -> Path:
    config = tmp_path / "other.toml"
    config.write_text(f'site_id = "site-o"\ndata_dir = "{tmp_path / "other"}"\n'
                      '[[cameras]]\nid = "gate"\nsource = "synthetic:"\n')
    return config
