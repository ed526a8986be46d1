"""Audit log throughput and proof cost.

1. Durable appends/s on SQLite and PostgreSQL: (a) 64 threads calling ``append`` (group commit:
   concurrent appends share a transaction and one signed checkpoint), (b) ``append_many`` in
   batches of 1,000. An append counts only once committed (SQLite WAL, synchronous=FULL;
   PostgreSQL synchronous_commit on).
2. Proofs at 1,000,000 entries: inclusion and consistency proof generation and verification,
   from the in-memory tree and through ``AuditLog`` on a database holding 1,000,000 entries.

Targets (issue 3): >= 5,000 durable appends/s with batching (Trillian Tessera publishes about
3,000/s on one VM); proofs in under 1 ms.

    python bench/audit.py [--entries 1000000] [--postgres "host=127.0.0.1 user=postgres"]
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from pathlib import Path

import harness  # puts the repository on the import path

from audit.log import AuditLog
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from audit.note import NoteSigner
from audit.records import Actor, Event
from audit.tree import MerkleTree
from privacy.signing import SigningKey

SIGNER = NoteSigner("bench.example/audit", SigningKey.generate())
ACTOR = Actor(pseudonym="officer-1", role="police_analyst", agency="city-pd")


def event(n: int) -> Event:
    return Event(actor=ACTOR, action="consultation", legal_basis="warrant", warrant_id=f"w-{n}",
                 purpose_code="serious-crime", outcome="answered", counts_returned=n % 5,
                 details={"targets": [f"AB{n % 100:02d}CDE"]})


def threaded_appends(url: str, threads: int = 64, per_thread: int = 100) -> float:
    with AuditLog(url, SIGNER, batch_size=1000, batch_wait=0.002) as log:
        events = [[event(t * per_thread + i) for i in range(per_thread)] for t in range(threads)]

        def work(mine: list[Event]) -> None:
            for item in mine:
                log.append(item)

        workers = [threading.Thread(target=work, args=(e,)) for e in events]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return threads * per_thread / (time.perf_counter() - started)


def batched_appends(url: str, total: int, batch: int = 1000) -> float:
    with AuditLog(url, SIGNER) as log:
        events = [event(i) for i in range(batch)]
        started = time.perf_counter()
        for _ in range(total // batch):
            log.append_many(events)
        return total / (time.perf_counter() - started)


def timed(call, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median wall time of ``call`` in microseconds."""
    return harness.median_seconds(call, repeat) * 1e6


def proof_costs(tree: MerkleTree, prove_inclusion, prove_consistency, label: str) -> None:  # type: ignore[no-untyped-def]
    size = tree.size
    root = tree.root()
    rng = random.Random(1)
    index = rng.randrange(size)
    proof = prove_inclusion(index, size)
    gen = timed(lambda: prove_inclusion(rng.randrange(size), size), 1000)
    ver = timed(lambda: verify_inclusion(tree.leaf(index), index, size, proof, root), 1000)
    first = rng.randrange(1, size)
    cproof = prove_consistency(first, size)
    old = tree.root(first)
    cgen = timed(lambda: prove_consistency(rng.randrange(1, size), size), 300)
    cver = timed(lambda: verify_consistency(first, size, cproof, old, root), 1000)
    print(f"  {label:28} inclusion: generate {gen:7.1f} us, verify {ver:6.1f} us "
          f"({len(proof)} hashes); consistency: generate {cgen:7.1f} us, verify {cver:6.1f} us")


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="host=127.0.0.1 port=5432 user=postgres")
    args = parser.parse_args()
    import psycopg

    params = dict(item.split("=", 1) for item in args.postgres.split())
    name = f"safecity_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(args.postgres + " dbname=postgres", autocommit=True)
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"SQLite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
        admin.execute(f'CREATE DATABASE "{name}"')
        urls["PostgreSQL"] = (f"postgresql+psycopg://{params.get('user', 'postgres')}@"
                              f"{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}/"
                              f"{name}")
        try:
            print("DURABLE APPENDS")
            for label, url in urls.items():
                threaded = threaded_appends(url)
                batched = batched_appends(url, 50_000)
                print(f"  {label:10} 64 threads x append: {threaded:8.0f}/s   "
                      f"append_many(1000): {batched:8.0f}/s")

            print(f"\nPROOFS AT {args.entries:,} ENTRIES (median)")
            started = time.perf_counter()
            tree = MerkleTree(leaf_hash(i.to_bytes(8, "big")) for i in range(args.entries))
            print(f"  building the tree: {time.perf_counter() - started:.1f} s "
                  f"({args.entries / (time.perf_counter() - started):,.0f} leaves/s)")
            proof_costs(tree, tree.inclusion_proof, tree.consistency_proof, "in-memory tree")

            url = urls["SQLite"]
            with AuditLog(url, SIGNER) as log:
                have = log.size()
                started = time.perf_counter()
                batch = [event(i) for i in range(5000)]
                while have < args.entries:
                    log.append_many(batch[: min(5000, args.entries - have)])
                    have = log.tree.size
                print(f"  filled SQLite to {have:,} entries in "
                      f"{time.perf_counter() - started:.0f} s")
            with AuditLog(url, SIGNER) as log:  # reopen: load and check a million entries
                proof_costs(log.tree, log.inclusion_proof, log.consistency_proof,
                            "AuditLog on SQLite (1M)")
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


if __name__ == "__main__":
    main()
