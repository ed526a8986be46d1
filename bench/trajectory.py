"""The unusual-behaviour model (issue 7): federated against each site's local-only model.

Three sites of the scripted city (a platform exit, a waiting hall, a corridor with side doors),
each with its own mix of normal behaviour and a few unlabelled unusual tracks (2%) among the
trajectories it recorded. The federated model is trained for real: a Flower SuperLink and three
SuperNodes on loopback (TLS, SuperNode authentication), DP-SGD at each site, updates summed
under SecAgg+. Each local-only model is the same network trained by one site alone on the same
data with the same DP-SGD plan (epsilon, delta, rounds, batch, learning rate).

Held out: normal tracks of every site (what any camera in the city may see) and the scripted
anomalies (running, walking against the flow, loitering). Printed: AUROC over the whole city,
per site (its own normal tracks against every anomaly), and per anomaly kind.

    python bench/trajectory.py [--rounds 20] [--tracks 400] [--epsilons 3]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import harness

from coordinator.learning.federation import LocalFederation, Site
from nodes.analytics.trajectories import TrajectoryStore
from nodes.config import load_settings
from nodes.learning.dp_training import Plan
from nodes.learning.flower_key import flower_key
from privacy.learning.tasks import get_task, load_parameters
from simulation.behaviour_scores import HeldOut, aurocs, local_only
from simulation.behaviours import SITE_MIXES, UNUSUAL, site_trajectories

SITES = 3


def show(label: str, scores: dict[str, object]) -> None:
    sites = " ".join(f"{s:>6.3f}" for s in scores["sites"])  # type: ignore[attr-defined]
    kinds = " ".join(f"{scores['kinds'][k]:>9.3f}" for k in UNUSUAL)  # type: ignore[index]
    print(f"{label:<22} {scores['city']:>6.3f}   {sites}   {kinds}", flush=True)


def main() -> None:
    args = harness.parser(__doc__)
    args.add_argument("--rounds", type=int, default=20)
    args.add_argument("--tracks", type=int, default=400, help="recorded per site")
    args.add_argument("--epsilons", default="3")
    args.add_argument("--learning-rate", type=float, default=0.5)
    args.add_argument("--batch-size", type=int, default=64)
    args.add_argument("--seed", type=int, default=1)
    options = args.parse_args()
    root = Path(tempfile.mkdtemp(prefix="safecity-bench-trajectory-"))
    held = HeldOut.make(SITES, 150, 100, seed=options.seed + 1000)
    try:
        configs = []
        for index in range(SITES):
            config = root / f"site-{index}.toml"
            config.write_text(f'site_id = "site-{index}"\n'
                              f'data_dir = "{root / f"site-{index}"}"\n'
                              "privacy_budget = {period_epsilon = 100, lifetime_epsilon = 100}\n")
            settings = load_settings(config)
            store = TrajectoryStore(settings.stores.trajectories, 7)
            store.add_many("cam", datetime.now(UTC), [
                ("person", t) for t in site_trajectories(index, options.tracks, options.seed,
                                                         unusual_fraction=0.02)])
            store.close()
            configs.append(config)
        print(f"trajectory model: {SITES} sites x {options.tracks} recorded tracks "
              f"(2% unusual, unlabelled); mixes {[dict(m) for m in SITE_MIXES]}")
        print(f"held out: {sum(len(n) for n in held.normal)} normal tracks (150 per site), "
              f"{sum(len(u) for u in held.unusual.values())} unusual (100 per kind); "
              f"{options.rounds} rounds, batch {options.batch_size}, "
              f"lr {options.learning_rate}, delta 1e-5")
        print(f"{'model':<22} {'city':>6}   {'site-0':>6} {'site-1':>6} {'site-2':>6}   "
              + " ".join(f"{k:>9}" for k in UNUSUAL))
        for epsilon in [float(e) for e in options.epsilons.split(",")]:
            plan = Plan(epsilon, 1e-5, options.rounds, batch_size=options.batch_size,
                        learning_rate=options.learning_rate)
            for index, config in enumerate(configs):
                show(f"eps {epsilon:g} local site-{index}",
                     aurocs(local_only(load_settings(config), plan), held))
            sites = [Site(f"site-{i}", c, flower_key(load_settings(c).keys_dir)[1])
                     for i, c in enumerate(configs)]
            started = time.perf_counter()
            with LocalFederation(root / f"fl-{epsilon:g}", sites, timeout=7200) as federation:
                record = federation.run(task="trajectory", rounds=options.rounds,
                                        epsilon=epsilon, delta=1e-5, run=f"bench-{epsilon:g}",
                                        **{"min-nodes": SITES, "expected-nodes": SITES,
                                           "learning-rate": options.learning_rate,
                                           "batch-size": options.batch_size})
            network = get_task("trajectory").model()
            load_parameters(network, record["parameters"])
            show(f"eps {epsilon:g} federated", aurocs(network, held))
            print(f"  federated: {record['status']}, {record.get('rounds_completed')} rounds in "
                  f"{time.perf_counter() - started:.0f} s; epsilon spent "
                  f"{ {s: round(e, 3) for s, e in record['epsilon_spent'].items()} }",
                  flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
