"""Privacy and utility of federated training on the digits benchmark (issue 7).

scikit-learn's digits (1,797 images; a fixed fifth held out) split non-IID across three sites
(two label-sorted shards each). Prints test accuracy, rounds and wall time for:

- centralized, non-private: one model trained on all training data in one place (the ceiling);
- federated, non-private: FedAvg over the three sites;
- federated with record-level DP-SGD at each site at epsilon 1, 3 and 8 (delta 1e-5).

Every federated run is real: a Flower SuperLink and three SuperNodes as processes on loopback
(TLS, SuperNode authentication), `flwr run` submitting the safecity Flower App, updates summed
under SecAgg+, each site spending its epsilon from its own privacy ledger. Pixels are
standardised with the public training set's statistics.

Target: federated with DP at epsilon 3 within 5 points of centralized non-private.

    python bench/federated.py [--rounds 20] [--sites 3] [--epsilons 1,3,8]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import harness

from coordinator.learning.federation import LocalFederation, Site
from nodes.config import load_settings
from nodes.learning.dp_training import Plan, train
from nodes.learning.flower_key import flower_key
from privacy.learning.digits import split
from privacy.learning.tasks import get_task


def centralized(rounds: int, learning_rate: float, batch_size: int) -> tuple[float, float]:
    task = get_task("digits")
    model = task.model()
    started = time.perf_counter()
    plan = Plan(0.0, 0.0, rounds, batch_size=batch_size, learning_rate=learning_rate)
    for round_number in range(1, rounds + 1):
        train(model, split()[0], plan, round_number, task.objective)
    return task.score(model, split()[1])["accuracy"], time.perf_counter() - started


def show(row: tuple[str, str, float, int, float]) -> None:
    label, epsilon, accuracy, rounds, seconds = row
    print(f"{label:<26} {epsilon:>7} {accuracy:>9.3f} {rounds:>7} {seconds:>8.1f}", flush=True)


def main() -> None:
    args = harness.parser(__doc__)
    args.add_argument("--rounds", type=int, default=20)
    args.add_argument("--sites", type=int, default=3)
    args.add_argument("--epsilons", default="1,3,8")
    args.add_argument("--learning-rate", type=float, default=0.5)
    args.add_argument("--batch-size", type=int, default=128)
    args.add_argument("--max-grad-norm", type=float, default=1.0)
    options = args.parse_args()
    root = Path(tempfile.mkdtemp(prefix="safecity-bench-fl-"))
    common = {"rounds": options.rounds, "min-nodes": options.sites, "delta": 1e-5,
              "learning-rate": options.learning_rate, "batch-size": options.batch_size,
              "max-grad-norm": options.max_grad_norm}
    try:
        print(f"digits, {options.sites} sites non-IID, SecAgg+; lr {options.learning_rate}, "
              f"batch {options.batch_size}, clip {options.max_grad_norm}, delta 1e-5")
        print(f"{'setting':<26} {'epsilon':>7} {'accuracy':>9} {'rounds':>7} {'seconds':>8}",
              flush=True)
        ceiling, seconds = centralized(options.rounds, options.learning_rate,
                                       options.batch_size)
        rows = [("centralized, non-private", "-", ceiling, options.rounds, seconds)]
        show(rows[-1])
        for epsilon in [0.0] + [float(e) for e in options.epsilons.split(",")]:
            sites, folder = [], root / f"epsilon-{epsilon:g}"  # a new federation per setting
            folder.mkdir()
            for index in range(options.sites):
                config = folder / f"site-{index}.toml"
                config.write_text(f'site_id = "site-{index}"\n'
                                  f'data_dir = "{folder / f"site-{index}"}"\n')
                _, public = flower_key(load_settings(config).keys_dir)
                sites.append(Site(f"site-{index}", config, public,
                                  {"partition-id": index, "num-partitions": options.sites}))
            with LocalFederation(folder, sites, timeout=7200) as federation:
                record = federation.run(**common, epsilon=epsilon, run=f"bench-{epsilon}")
            label = "federated, non-private" if epsilon == 0 else "federated, DP-SGD"
            rows.append((label, f"{epsilon:g}" if epsilon else "-",
                         record["history"][-1]["accuracy"], options.rounds, record["seconds"]))
            show(rows[-1])
        dp3 = next((r[2] for r in rows if r[1] == "3"), None)
        if dp3 is not None:
            print(f"epsilon 3 vs centralized non-private: {100 * (dp3 - ceiling):+.1f} points "
                  "(target >= -5)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
