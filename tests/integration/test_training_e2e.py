"""A federated training started the way a city starts one, end to end: nodes enrolled at the
coordinator with their SuperNode keys, a SuperLink and SuperNodes as processes, `safecity fl
start` at the coordinator; the run is logged before it starts and for every site after, the
transparency report computed from the verified log lists it with the epsilon each site spent,
and the trained model reaches each node's queue, where the node's worker checks the signature
and installs it, calibrated on the site's own tracks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.records import Action
from coordinator.learning.federation import LocalFederation, Site
from nodes.analytics.trajectories import TrajectoryStore
from nodes.enrolment import load_enrolment
from nodes.learning.deployed import load_behaviour_model
from nodes.learning.flower_key import flower_key
from privacy.pki import make_ca
from simulation.behaviours import site_trajectories
from tests.support.world import World, embedded_world

pytestmark = pytest.mark.slow


def safecity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from nodes.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=900, check=False)


def ledger_epsilon(world: World, name: str) -> float:
    import sqlite3

    path = world.nodes[name].settings.stores.privacy_ledger
    with sqlite3.connect(path) as db:
        return float(db.execute("SELECT SUM(epsilon) FROM spends").fetchone()[0])


def test_fl_start_trains_logs_reports_and_deploys(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        for index, (name, site) in enumerate((("alpha", "site-a"), ("beta", "site-b"))):
            node = world.add_node(name, site)
            store = TrajectoryStore(node.settings.stores.trajectories, 7)
            store.add_many("gate", datetime.now(UTC), [
                ("person", t) for t in site_trajectories(index, 150, seed=4,
                                                         unusual_fraction=0.02)])
            store.close()
        def coordinator_config(superlink: str, ca: Path) -> Path:
            config = tmp_path / "coordinator.toml"
            config.write_text(
                f'data_dir = "{world.settings.data_dir}"\ndatabase_url = "{world.db_url}"\n'
                f'broker_url = "{world.broker}"\nresult_backend = "{world.backend}"\n'
                f'flower_superlink = "{superlink}"\nflower_ca = "{ca}"\n')
            return config

        # no SuperLink answering: a clear failure, and the log says the run started and failed
        nowhere = coordinator_config("127.0.0.1:1", make_ca(tmp_path / "pki", "x").certificate)
        down = safecity("fl", "start", "trajectory", "--rounds", "2", "--epsilon", "2",
                        "--as", "admin", "--config", str(nowhere))
        assert down.returncode == 1 and "SuperLink is unavailable" in down.stderr, down.stderr
        assert [e.record.outcome for e in world.svc.audit.entries()
                if e.record.action is Action.TRAINING_RUN] == ["started", "failed"]

        sites = [Site(n.node_id, n.config, flower_key(n.settings.keys_dir)[1])
                 for n in world.nodes.values()]
        with LocalFederation(tmp_path / "fl", sites) as federation:
            config = coordinator_config(federation.address, federation.ca.certificate)
            refused = safecity("fl", "start", "trajectory", "--rounds", "2", "--epsilon", "0",
                               "--as", "admin", "--config", str(config))
            assert refused.returncode != 0 and "needs epsilon > 0" in refused.stderr
            # two rounds: what is checked (the rounds reported, each site's epsilon over the
            # run, the model deployed) is the same for any number above one, and each round is
            # a SecAgg+ exchange with both SuperNodes
            done = safecity("fl", "start", "trajectory", "--rounds", "2", "--epsilon", "2",
                            "--as", "admin", "--config", str(config))
        assert done.returncode == 0, done.stderr[-3000:] + federation.log("superlink")[-2000:]
        summary = json.loads(done.stdout)
        run_id = summary["run"]
        assert summary["status"] == "completed" and summary["rounds_completed"] == 2
        assert set(summary["deployed"].values()) == {"sent"}

        entries = [e.record for e in world.svc.audit.entries(limit=10_000)
                   if e.record.training is not None and e.record.training.run_id == run_id]
        assert [(r.action, r.outcome) for r in entries] == [
            (Action.TRAINING_RUN, "started"), (Action.TRAINING_RUN, "trained"),
            (Action.TRAINING_RUN, "trained"), (Action.TRAINING_RUN, "completed"),
            (Action.CONFIG_CHANGE, "model_deployed")]
        assert entries[0].actor.role == "admin"  # who decided, logged before anything ran
        spent = {r.scope.sites[0]: float(r.privacy_loss.epsilon) for r in entries[1:3]}
        assert spent == {"site-a": pytest.approx(ledger_epsilon(world, "alpha"), rel=1e-4),
                         "site-b": pytest.approx(ledger_epsilon(world, "beta"), rel=1e-4)}
        assert all(1.9 <= e <= 2.0 for e in spent.values())

        bundle = tmp_path / "bundle.json"
        exported = safecity("audit", "export", "--db", world.db_url, "--origin",
                            world.settings.origin, "--out", str(bundle))
        assert exported.returncode == 0, exported.stderr
        report = safecity("audit", "report", "--bundle", str(bundle), "--log-key",
                          world.svc.keys.log.verifier.vkey())
        assert report.returncode == 0, report.stderr
        published = json.loads(report.stdout)
        training = next(t for t in published["trainings"] if t["run_id"] == run_id)
        assert training["task"] == "trajectory" and training["status"] == "completed"
        assert training["rounds"] == 2
        assert {s: v["epsilon"] for s, v in training["sites"].items()} == pytest.approx(spent,
                                                                                      rel=1e-4)
        assert published["privacy_budget_spent"]["site-a"]["training"] == pytest.approx(
            spent["site-a"], rel=1e-4)
        assert published["checkpoint"]["size"] == len(world.svc.audit.entries())

        world.start_worker("alpha")  # the model waits on the node's queue
        alpha = world.nodes["alpha"]
        deadline = time.monotonic() + 120
        while not (alpha.settings.data_dir / "models" / "trajectory.json").exists():
            assert time.monotonic() < deadline, world.worker_log("alpha")
            time.sleep(0.5)
        model = load_behaviour_model(alpha.settings, load_enrolment(alpha.settings.data_dir))
        assert model is not None and model.run_id == run_id and model.threshold > 0
        installed = [e.record.outcome for e in world.service("alpha").audit.entries()]
        assert "model_installed" in installed

        # offline, at the other site: the same package from a file, and an altered one
        package = world.settings.trainings_dir / f"{run_id}.model.json"
        beta = str(world.nodes["beta"].config)
        offline = safecity("node", "install-model", "--config", beta, str(package))
        assert offline.returncode == 0, offline.stderr
        assert json.loads(offline.stdout)["installed"] and json.loads(offline.stdout)[
            "calibrated_on"] == 150
        altered = json.loads(package.read_text())
        altered["model"]["issued_at"] = "2030-01-01T00:00:00Z"
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps(altered))
        refused_model = safecity("node", "install-model", "--config", beta, str(forged))
        assert refused_model.returncode == 1
        assert "model refused: the model is not signed by the coordinator" in refused_model.stderr
    finally:
        world.close()
