"""Tamper evidence: every kind of change to any single row of the log's database is caught.

A 1,000-entry log (100 batches, 100 signed checkpoints) is copied, one row is changed with SQL,
the database is exported as stored and verified. The fast suite tries each kind of change on a
spread of its rows (the first and last, batch edges, both sides of the tree's 512-leaf boundary);
the slow suite on every row of a 130-entry log (13 batches and checkpoints, past the 128-leaf
boundary of the tree, with a last subtree that is not full). Each row costs a whole verification
of the log, so the smaller log has every kind of row the larger one has (first, last, each edge of
a batch and of a checkpoint, each side of a power-of-two boundary, the incomplete right edge of
the tree) at a quarter of the 520-entry log's cost (3,120 whole verifications, CI's minutes).
Likewise every checkpoint of that log (first, second, inner, last): the fast suite forges the
1,000-entry log's first, second, middle and last two of its 100.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select, text

from audit import storage
from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.log import AuditLog, read_bundle
from audit.note import NoteSigner
from audit.records import PublicRecord
from audit.verify import verify_bundle
from privacy.signing import SigningKey
from tests.conftest import audit_event

N = 1000
N_EVERY = 130
SIGNER = NoteSigner("city.example/audit", SigningKey.generate())
VERIFIER = SIGNER.verifier  # one key object: it remembers the signatures it already checked


def written(path: Path, entries: int) -> Path:
    with AuditLog(f"sqlite:///{path}", SIGNER) as log:
        for batch in range(entries // 10):
            log.append_many([audit_event(batch * 10 + k) for k in range(10)])
    return path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written(tmp_path_factory.mktemp("log") / "audit.db", N)


@pytest.fixture(scope="module")
def pristine_every(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written(tmp_path_factory.mktemp("log") / "audit.db", N_EVERY)


def size(connection) -> int:
    return connection.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()


def run(pristine: Path, tmp_path: Path, change: Callable) -> list[str]:
    copy = tmp_path / f"copy-{random.random()}.db"
    shutil.copy(pristine, copy)
    engine = create_engine(f"sqlite:///{copy}")
    with engine.begin() as connection:
        change(connection)
    engine.dispose()
    report = verify_bundle(read_bundle(create_engine(f"sqlite:///{copy}"), SIGNER.name),
                           VERIFIER)
    copy.unlink()
    return [str(p) for p in report.problems]


def flip_data(row: int) -> Callable:
    def change(connection) -> None:
        data = bytearray(connection.execute(select(storage.entries.c.data)
                                            .where(storage.entries.c.idx == row)).scalar_one())
        data[len(data) // 2] ^= 0x01
        connection.execute(storage.entries.update().where(storage.entries.c.idx == row)
                           .values(data=bytes(data)))
    return change


def rewrite_data_and_hash(row: int) -> Callable:
    """A smarter attacker: changes a record and recomputes its leaf hash."""
    from audit.merkle import leaf_hash

    def change(connection) -> None:
        data = connection.execute(select(storage.entries.c.data)
                                  .where(storage.entries.c.idx == row)).scalar_one()
        record = PublicRecord.from_leaf(data).model_copy(update={"counts_returned": 99})
        forged = record.leaf_data()
        connection.execute(storage.entries.update().where(storage.entries.c.idx == row)
                           .values(data=forged, leaf_hash=leaf_hash(forged)))
    return change


def delete(row: int) -> Callable:
    return lambda c: c.execute(storage.entries.delete().where(storage.entries.c.idx == row))


def swap(row: int) -> Callable:
    def change(connection) -> None:
        other = (row + 1) % size(connection)
        rows = {i: (d, h) for i, d, h in connection.execute(
            select(storage.entries.c.idx, storage.entries.c.data, storage.entries.c.leaf_hash)
            .where(storage.entries.c.idx.in_([row, other])))}
        for target, source in ((row, other), (other, row)):
            connection.execute(storage.entries.update().where(storage.entries.c.idx == target)
                               .values(data=rows[source][0], leaf_hash=rows[source][1]))
    return change


def insert_at(row: int) -> Callable:
    from audit.merkle import leaf_hash

    def change(connection) -> None:
        connection.execute(text("UPDATE audit_entries SET idx = idx + 1000000 WHERE idx >= :r"),
                           {"r": row})
        connection.execute(text("UPDATE audit_entries SET idx = idx - 999999 WHERE idx >= 1000000"))
        forged = PublicRecord.from_leaf(
            connection.execute(select(storage.entries.c.data)
                               .where(storage.entries.c.idx == row + 1)).scalar_one()
        ).model_copy(update={"event_id": "forged"}).leaf_data()
        connection.execute(insert(storage.entries),
                           {"idx": row, "data": forged, "leaf_hash": leaf_hash(forged)})
    return change


def truncate(row: int) -> Callable:
    return lambda c: c.execute(storage.entries.delete().where(storage.entries.c.idx >= row))


def foreign_checkpoint(position: int) -> Callable:
    stranger = NoteSigner(SIGNER.name, SigningKey.generate())  # same name, another key

    def change(connection) -> None:
        ident, _size, note = connection.execute(
            select(storage.checkpoints.c.id, storage.checkpoints.c.size, storage.checkpoints.c.note)
            .order_by(storage.checkpoints.c.id).offset(position).limit(1)).one()
        checkpoint = Checkpoint.from_text(note.split("\n\n")[0] + "\n")
        forged = sign_checkpoint(checkpoint, stranger).format()
        connection.execute(storage.checkpoints.update().where(storage.checkpoints.c.id == ident)
                           .values(note=forged))
    return change


def fork(position: int) -> Callable:
    def change(connection) -> None:
        size = connection.execute(select(storage.checkpoints.c.size)
                                  .order_by(storage.checkpoints.c.id)
                                  .offset(position).limit(1)).scalar_one()
        other = Checkpoint(SIGNER.name, size, bytes(range(32)))
        connection.execute(insert(storage.checkpoints),
                           {"size": size, "note": sign_checkpoint(other, SIGNER).format()})
    return change


# what the verifier must say about a change at row r of an n-entry log
KINDS: dict[str, tuple[Callable[[int], Callable], Callable[[int, int], str]]] = {
    "flip-byte": (flip_data,
                  lambda r, n: f"entry {r}: its data does not match its stored leaf hash"),
    "rewrite-and-rehash": (rewrite_data_and_hash, lambda r, n: "root does not match the entries"),
    "delete": (delete, lambda r, n: f"entry {r}: is missing" if r < n - 1
               else f"signs {n} entries but only {n - 1} are present"),
    "swap": (swap, lambda r, n: "root does not match the entries"),
    "insert": (insert_at, lambda r, n: "root does not match the entries"),
    "truncate": (truncate, lambda r, n: f"signs {n} entries but only {r} are present"),
}
CHECKPOINT_KINDS = {
    "foreign-key": (foreign_checkpoint, lambda p, n: "rejected: note is not signed by"),
    "fork": (fork,
             lambda p, n: "fork: another signed checkpoint of this size has a different root"),
}
SPREAD = sorted({0, 1, 2, 9, 10, 499, 500, 511, 512, 998, 999}
                | set(random.Random(7).sample(range(N), 6)))


def _check(pristine: Path, tmp_path: Path, make, expected, rows, n: int = N) -> int:
    tried = 0
    for row in rows:
        problems = run(pristine, tmp_path, make(row))
        assert problems, f"row {row}: not detected"
        assert any(expected(row, n) in p for p in problems), (row, problems[:5])
        tried += 1
    return tried


def test_the_pristine_log_verifies(pristine: Path) -> None:
    report = verify_bundle(read_bundle(create_engine(f"sqlite:///{pristine}"), SIGNER.name),
                           VERIFIER)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints) == (N, 100)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_entry_tampering_is_detected(pristine: Path, tmp_path: Path, kind: str) -> None:
    make, expected = KINDS[kind]
    rows = [r for r in SPREAD if not (kind == "truncate" and r == 0)]
    assert _check(pristine, tmp_path, make, expected, rows) == len(rows)


@pytest.mark.parametrize("kind", sorted(CHECKPOINT_KINDS))
def test_checkpoint_tampering_is_detected(pristine: Path, tmp_path: Path, kind: str) -> None:
    make, expected = CHECKPOINT_KINDS[kind]
    _check(pristine, tmp_path, make, expected, [0, 1, 50, 98, 99])


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_entry_tampering_is_detected_on_every_row(pristine_every: Path, tmp_path: Path,
                                                  kind: str) -> None:
    make, expected = KINDS[kind]
    rows = range(1 if kind == "truncate" else 0, N_EVERY)
    assert _check(pristine_every, tmp_path, make, expected, rows, N_EVERY) == len(rows)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CHECKPOINT_KINDS))
def test_checkpoint_tampering_is_detected_on_every_checkpoint(pristine_every: Path,
                                                              tmp_path: Path, kind: str) -> None:
    make, expected = CHECKPOINT_KINDS[kind]
    checkpoints = N_EVERY // 10
    assert _check(pristine_every, tmp_path, make, expected, range(checkpoints),
                  N_EVERY) == checkpoints
