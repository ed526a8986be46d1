"""Query fan-out: dispatch and answer time with 1, 4, 16 and 64 node workers.

A coordinator (PostgreSQL, in process) and 64 enrolled nodes, each with its own queue on a real
Redis and its own `safecity node worker` process holding 1,000 plate sightings. For each size N a
warrant covers the first N sites; each watchlist query (20 plates) is authorised and logged once,
sealed and signed per node, sent to N queues, checked and answered by N workers, and collected.

Prints, per N: the dispatch time (POST /queries: authorise, log, seal and send to N queues), the
time until all N signed answers are collected, and both per node; then a linear fit (fixed cost
plus cost per node) that docs/deploy.md uses to size a city of 1,000 sites.

    python bench/fanout.py [--sizes 1,4,16,64] [--queries 8]
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import harness

from nodes.identity import load_identity
from nodes.sightings import SightingStore
from tests.support.world import CAMERAS, T0, World

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")
WATCHLIST = [f"FA{i:02d}NOU" for i in range(20)]


def seed(world: World, name: str, count: int = 1000) -> None:
    settings = world.nodes[name].settings
    store = SightingStore(settings.stores.sightings,
                          load_identity(settings.keys_dir).plate_key)
    store.add_many([(CAMERAS[i % 2], T0 - timedelta(hours=1 + i % 100), i,
                     WATCHLIST[i % 20] if i % 250 == 0 else f"ZZ{i:04d}X", None)
                    for i in range(count)])
    store.close()


def wait_ready(world: World, names: list[str]) -> None:
    """Every worker answers (a query to all of them until each is answered)."""
    warrant = world.registered(sites=sorted({world.nodes[n].settings.site_id for n in names}),
                               targets=WATCHLIST, max_uses=1000)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        sent = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": warrant["warrant_id"], "targets": WATCHLIST})
        view = world.client.get(f"/queries/{sent.json()['query_id']}?wait=60",
                                headers=world.as_("police")).json()
        if {n["status"] for n in view["nodes"]} == {"answered"}:
            return
    raise SystemExit("the node workers did not all start")


def measure(world: World, names: list[str], queries: int) -> tuple[float, float]:
    sites = sorted({world.nodes[n].settings.site_id for n in names})
    warrant = world.registered(sites=sites, targets=WATCHLIST, max_uses=queries + 5)
    dispatch, answered = [], []
    for i in range(queries + 1):
        started = time.perf_counter()
        sent = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": warrant["warrant_id"], "targets": WATCHLIST})
        sent_at = time.perf_counter()
        assert sent.status_code == 202, sent.text
        view = world.client.get(f"/queries/{sent.json()['query_id']}?wait=60",
                                headers=world.as_("police")).json()
        done = time.perf_counter()
        states = [n["status"] for n in view["nodes"]]
        assert states == ["answered"] * len(names), states
        if i:  # the first warms this warrant's path
            dispatch.append(sent_at - started)
            answered.append(done - started)
    return statistics.median(dispatch), statistics.median(answered)


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares ``seconds = fixed + per_node * n``."""
    n = [p[0] for p in points]
    y = [p[1] for p in points]
    mean_n, mean_y = statistics.fmean(n), statistics.fmean(y)
    slope = (sum((a - mean_n) * (b - mean_y) for a, b in zip(n, y, strict=True))
             / sum((a - mean_n) ** 2 for a in n))
    return mean_y - slope * mean_n, slope


def main() -> None:
    args = harness.parser(__doc__)
    args.add_argument("--sizes", default="1,4,16,64")
    args.add_argument("--queries", type=int, default=8)
    options = args.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="safecity-bench-fanout-"))
    with harness.scratch_database() as url:
        world = World(root, url, f"{REDIS}/6", f"{REDIS}/7", query_timeout=120)
        try:
            names = [f"n{i:02d}" for i in range(max(sizes))]
            started = time.perf_counter()
            for i, name in enumerate(names):
                world.add_node(name, f"site-{i:02d}")
                seed(world, name)
                world.start_worker(name)
            wait_ready(world, names)
            print(f"{len(names)} nodes enrolled, seeded and their workers started in "
                  f"{time.perf_counter() - started:.0f} s")
            rows = []
            print(f"{'nodes':>6} {'dispatch':>10} {'per node':>10} {'all answered':>13} "
                  f"{'per node':>10}")
            for size in sizes:
                dispatch, answered = measure(world, names[:size], options.queries)
                rows.append((size, dispatch, answered))
                print(f"{size:>6} {dispatch * 1000:>8.0f} ms {dispatch / size * 1000:>7.1f} ms "
                      f"{answered * 1000:>11.0f} ms {answered / size * 1000:>7.1f} ms")
            fixed_d, slope_d = fit([(s, d) for s, d, _ in rows])
            fixed_a, slope_a = fit([(s, a) for s, _, a in rows])
            print(f"fit: dispatch {fixed_d * 1000:.0f} ms + {slope_d * 1000:.1f} ms/node; "
                  f"all answered {fixed_a * 1000:.0f} ms + {slope_a * 1000:.1f} ms/node")
            print(f"extrapolated to 1,000 sites: dispatch {(fixed_d + 1000 * slope_d):.1f} s, "
                  f"all answered {(fixed_a + 1000 * slope_a):.1f} s (one coordinator process, "
                  "this machine: 2 cores)")
        finally:
            world.close()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
