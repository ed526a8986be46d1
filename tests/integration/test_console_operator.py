"""Every state-changing command at the coordinator's console names who ran it (`--as`), and the
audit log attributes it exactly as it attributes the same account signed in to the API: the
DPO's trail filtered by that account finds users created and trainings started from the CLI
(issue 24, DPO)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from audit.records import Action
from coordinator.config import load_coordinator_settings
from coordinator.db import Node
from coordinator.service import Coordinator
from coordinator.web.trail import TrailFilter, pseudonyms, search
from nodes.cli import main
from privacy.signing import SigningKey
from tests.support.world import embedded_world

PASSWORD = "correct horse battery staple"


def enrol_two_sites(config: Path) -> None:
    """Two sites with SuperNode keys, as enrolment stores them (the run needs two)."""
    svc = Coordinator.open(load_coordinator_settings(config))
    try:
        with svc.session() as session:
            for site in ("site-a", "site-b"):
                session.add(Node(node_id=f"{site}-1", site_id=site, cameras=["gate"],
                                 identity_key=SigningKey.generate().public.text(),
                                 sealing_key="x25519:unused", flower_key=f"key-{site}",
                                 enrolled_by="ingrid", camera_notices=[],
                                 enrolled_at=svc.clock(), active=True))
    finally:
        svc.close()


def test_console_commands_are_attributed_to_the_named_account(tmp_path: Path) -> None:
    config = tmp_path / "coordinator.toml"
    # a CA file the run never reaches: the SuperLink at port 1 does not answer
    (tmp_path / "ca.pem").write_text("")
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n'
                      f'flower_superlink = "127.0.0.1:1"\nflower_ca = "{tmp_path / "ca.pem"}"\n')
    runner = CliRunner(env={"SAFECITY_OPERATOR": None})

    def run(*args: str) -> Result:
        return runner.invoke(main, [*args, "--config", str(config)], input=PASSWORD + "\n")

    def add(username: str, role: str, *more: str) -> Result:
        return run("coordinator", "add-user", "--username", username, "--role", role,
                   "--agency", "city", "--password-stdin", *more)

    assert run("coordinator", "init").exit_code == 0
    # nobody yet: only an admin may be first, and it is named as its own creator
    judge_first = add("judge-1", "judge", "--signing-key", SigningKey.generate().public.text())
    assert judge_first.exit_code == 2 and "--as USERNAME" in judge_first.output
    # the first admin may name itself (as the demo's script does), no one else
    assert "no such user" in add("ingrid", "admin", "--as", "someone").output
    assert add("ingrid", "admin", "--as", "ingrid").exit_code == 0
    unnamed = add("tomas", "police_analyst")
    assert unnamed.exit_code == 2 and "--as USERNAME" in unnamed.output
    assert len(unnamed.output.strip().splitlines()) == 1  # one line, with the fix
    assert "no such user" in add("tomas", "police_analyst", "--as", "ghost").output
    assert add("tomas", "police_analyst", "--as", "ingrid").exit_code == 0
    refused = add("lena", "planner", "--as", "tomas")
    assert refused.exit_code == 2 and "a police_analyst may not user:manage" in refused.output
    assert "a police_analyst may not training:start" in run(
        "fl", "start", "trajectory", "--rounds", "1", "--epsilon", "1", "--as", "tomas").output
    enrol_two_sites(config)
    started = run("fl", "start", "trajectory", "--rounds", "1", "--epsilon", "1",
                  "--as", "ingrid")
    assert started.exit_code == 1 and "SuperLink is unavailable" in started.output

    svc = Coordinator.open(load_coordinator_settings(config))
    try:
        admin = svc.actor("ingrid", "admin", "city")  # as the API attributes her (auth.py)
        system = svc.actor("coordinator", "system", "city")  # the SuperLink's failure
        entries = [e.record for e in svc.audit.entries()]
        created = [r for r in entries if r.outcome == "user_created"]
        assert [r.actor for r in created] == [admin, admin]
        trainings = [r for r in entries if r.action is Action.TRAINING_RUN]
        assert [(r.outcome, r.actor) for r in trainings] == [("started", admin), ("failed", system)]
        # nothing was logged for the refused commands, and nothing under a made-up actor
        assert {r.actor.pseudonym for r in entries if r.actor.role != "system"} == \
            {admin.pseudonym}
        found = search(svc.audit, TrailFilter(actors=pseudonyms(["ingrid"],
                                                                svc.keys.pseudonym)))
        assert {r.outcome for _, r in found} >= {"user_created", "started"}
    finally:
        svc.close()


def test_the_api_attributes_a_new_user_to_the_admin_signed_in(tmp_path: Path) -> None:
    """The same account, the same attribution, from the API: its pseudonym, role and agency."""
    world = embedded_world(tmp_path)
    try:
        created = world.client.post("/users", headers=world.as_("admin"), json={
            "username": "lena", "role": "planner", "agency": "city", "password": PASSWORD})
        assert created.status_code == 201, created.text
        (entry,) = [e.record for e in world.svc.audit.entries()
                    if e.record.outcome == "user_created"
                    and json.loads(world.svc.audit.details(e.index)["user"]) == "lena"]
        assert entry.actor == world.svc.actor("admin", "admin", "city")
    finally:
        world.close()
