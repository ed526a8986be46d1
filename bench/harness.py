"""What every benchmark script shares: the import path and the model-cache argument."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy import model_registry


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the script's docstring, with ``--model-dir``."""
    result = argparse.ArgumentParser(description=doc.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--model-dir", type=Path, default=Path(
        os.environ.get("SAFECITY_MODEL_DIR") or model_registry.default_cache_dir()))
    return result


PG_ADMIN = os.environ.get("SAFECITY_TEST_PG",
                          "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@contextmanager
def scratch_database(admin: str = PG_ADMIN) -> Iterator[str]:
    """A new PostgreSQL database for one run (dropped afterwards); yields its SQLAlchemy URL."""
    import psycopg

    name = f"safecity_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    params = dict(item.split("=", 1) for item in admin.split())
    try:
        yield (f"postgresql+psycopg://{params.get('user', 'postgres')}@"
               f"{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}/{name}")
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def median_seconds(call, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median wall time of ``call`` over ``repeat`` runs, in seconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def latency_summary(seconds: list[float]) -> str:
    """p50, p95 (nearest rank) and max of latencies in seconds."""
    ordered = sorted(seconds)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (f"p50 {statistics.median(ordered):.3f} s, p95 {p95:.3f} s, "
            f"max {ordered[-1]:.3f} s")
