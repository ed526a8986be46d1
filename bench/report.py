"""The public transparency report: computing it (verify the whole log, then count it) against
serving the one the housekeeping job stored, as the log grows. Both through the portal's own
route (`GET /portal/report.json`), in the same process, on PostgreSQL.

    python bench/report.py [--sizes 1000,10000,100000]

Prints, per log size, the median time of each path and their ratio (live / stored), and how long
the housekeeping job takes to publish.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import harness

from coordinator.db import PublishedReport
from coordinator.housekeeping import publish_report
from tests.conftest import audit_event
from tests.support.world import World

BATCH = 1000


def measure(world: World, sizes: list[int]) -> None:
    print(f"{'log entries':>12} {'live':>10} {'stored':>10} {'live/stored':>12} "
          f"{'job publishes':>14}")
    have = len(world.svc.audit.bundle().entries)
    for size in sizes:
        while have < size:
            count = min(BATCH, size - have)
            world.svc.audit.append_many([audit_event(have + i) for i in range(count)])
            have += count

        def get() -> None:
            response = world.client.get("/portal/report.json")
            assert response.status_code == 200, response.text

        with world.svc.session() as session:
            session.query(PublishedReport).delete()
        live = harness.median_seconds(get, 3)
        job = harness.median_seconds(lambda: publish_report(world.svc), 3)
        stored = harness.median_seconds(get, 30)
        print(f"{have:>12,} {live * 1000:>8.1f} ms {stored * 1000:>7.2f} ms {live / stored:>11.0f}x"
              f" {job:>12.2f} s", flush=True)


def main() -> None:
    args = harness.parser(__doc__)
    args.add_argument("--sizes", default="1000,10000,100000")
    options = args.parse_args()
    sizes = sorted(int(s) for s in options.sizes.split(","))
    root = Path(tempfile.mkdtemp(prefix="safecity-bench-report-"))
    with harness.scratch_database() as url:
        try:
            world = World(root, url, f"sqla+sqlite:///{root / 'broker.sqlite'}",
                          f"db+sqlite:///{root / 'results.sqlite'}")
            try:
                measure(world, sizes)
            finally:
                world.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
