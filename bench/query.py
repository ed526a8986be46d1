"""Watchlist queries end to end through Redis: coordinator, broker, 10 node workers.

Ten nodes each hold 1,000,000 plate sightings (keyed hashes under each node's own key, spread
over 7 days and 4 cameras); a police analyst runs a 1,000-plate watchlist under a warrant. Each
query is authorised and logged by the coordinator (PostgreSQL), dispatched to ten queues on a
real Redis, checked and answered by ten `safecity node worker` processes, and read back.

Prints p50 and p95 of the end-to-end time (submit to all ten signed answers collected), and the
node-side match time (1,000 keyed hashes looked up in 1,000,000 sightings, plus the count of
sightings searched) measured in process on one node's store.

Target (issue 5): p95 <= 2 s end to end; with the city's witnesses in the path (issue 20: three
witnesses, quorum 2, each query waits for a newly cosigned checkpoint), the share of
witnessing is printed on its own.

    python bench/query.py [--nodes 10] [--sightings 1000000] [--targets 1000] [--queries 30]
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import string
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import harness

from nodes.identity import load_identity
from nodes.sightings import SightingStore
from nodes.stores import StorePaths
from tests.support.world import CAMERAS, T0, World

REDIS = os.environ.get("SAFECITY_TEST_REDIS", "redis://127.0.0.1:6379")


def plate(rng: random.Random) -> str:
    return ("".join(rng.choices(string.ascii_uppercase, k=2)) + f"{rng.randrange(100):02d}"
            + "".join(rng.choices(string.ascii_uppercase, k=3)))


def seed_node(data_dir: str, count: int, seed: int, hits: list[str]) -> float:
    """Fill one node's store; a few sightings are of watchlist plates."""
    started = time.perf_counter()
    rng = random.Random(seed)
    store = SightingStore(StorePaths(Path(data_dir)).sightings,
                          load_identity(Path(data_dir) / "keys").plate_key)
    batch = []
    for i in range(count):
        text = hits[i % len(hits)] if i % 100_000 == 0 else plate(rng)
        moment = T0 - timedelta(seconds=rng.uniform(60, 7 * 86400))
        batch.append((CAMERAS[i % len(CAMERAS)], moment, i, text, None))
        if len(batch) == 50_000:
            store.add_many(batch)
            batch = []
    store.add_many(batch)
    store.close()
    return time.perf_counter() - started


def main() -> None:
    args = harness.parser(__doc__)
    args.add_argument("--nodes", type=int, default=10)
    args.add_argument("--sightings", type=int, default=1_000_000)
    args.add_argument("--targets", type=int, default=1000)
    args.add_argument("--queries", type=int, default=30)
    options = args.parse_args()
    rng = random.Random(7)
    watchlist = sorted({plate(rng) for _ in range(options.targets * 2)})[:options.targets]
    root = Path(tempfile.mkdtemp(prefix="safecity-bench-query-"))
    with harness.scratch_database() as url:
        try:
            measure(World(root, url, f"{REDIS}/2", f"{REDIS}/3", query_timeout=60), options,
                    watchlist)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def harness_event():  # type: ignore[no-untyped-def]
    from audit.records import Actor, Event, LegalBasis

    return Event(actor=Actor(pseudonym="bench", role="admin", agency="city"),
                 action="consultation", legal_basis=LegalBasis.STATUTE, outcome="bench")


def measure(world: World, options, watchlist: list[str]) -> None:  # type: ignore[no-untyped-def]
    try:
        names = [f"n{i:02d}" for i in range(options.nodes)]
        for i, node in enumerate(names):
            world.add_node(node, f"site-{i:02d}")
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=2) as pool:
            list(pool.map(seed_node, [str(world.nodes[n].settings.data_dir) for n in names],
                          [options.sightings] * len(names), range(1000, 1000 + len(names)),
                          [watchlist[:5]] * len(names)))
        print(f"seeded {options.nodes} nodes x {options.sightings:,} sightings in "
              f"{time.perf_counter() - started:.0f} s")

        store = SightingStore(world.nodes[names[0]].settings.stores.sightings,
                              load_identity(world.nodes[names[0]].settings.keys_dir).plate_key)
        start, end = T0 - timedelta(days=7), T0
        timings = []
        for _ in range(10):
            t = time.perf_counter()
            found = store.match(watchlist, list(CAMERAS), start, end)
            searched = store.count(list(CAMERAS), start, end)
            timings.append(time.perf_counter() - t)
        store.close()
        print(f"node-side match: {len(watchlist)} plates in {searched:,} sightings -> "
              f"{len(found)} hits, median {statistics.median(timings) * 1000:.1f} ms")

        for node in names:
            world.start_worker(node)
        warrant = world.registered(targets=watchlist, max_uses=options.queries + 5)
        latencies, hits = [], 0
        for i in range(options.queries + 2):
            t = time.perf_counter()
            submitted = world.client.post("/queries", headers=world.as_("police"), json={
                "warrant_id": warrant["warrant_id"], "targets": watchlist})
            assert submitted.status_code == 202, submitted.text
            result = world.client.get(f"/queries/{submitted.json()['query_id']}?wait=60",
                                      headers=world.as_("police")).json()
            elapsed = time.perf_counter() - t
            states = {n["status"] for n in result["nodes"]}
            assert states == {"answered"}, result["nodes"]
            if i >= 2:  # the first two warm the workers' connections and page caches
                latencies.append(elapsed)
                hits = len(result["hits"])
        print(f"end to end ({options.nodes} nodes, {len(watchlist)} plates, {hits} hits): "
              f"{harness.latency_summary(latencies)} over {len(latencies)} queries  "
              f"(target p95 <= 2 s), each under a checkpoint {world.settings.witness_quorum} "
              f"of {len(world.settings.witnesses)} witnesses cosigned")
        witnessing = []
        for _ in range(20):  # the witnesses' share: a new checkpoint cosigned, as per query
            world.svc.log(harness_event())
            t = time.perf_counter()
            world.svc.witnessing.witnessed()
            witnessing.append(time.perf_counter() - t)
        print(f"of which witnessing a new checkpoint: {harness.latency_summary(witnessing)}")
    finally:
        world.close()


if __name__ == "__main__":
    main()
