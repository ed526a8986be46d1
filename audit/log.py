"""The append-only audit log: durable batched appends, signed checkpoints, proofs.

``AuditLog.append`` returns only once the entry is committed to the database together with a new
checkpoint signed over it (group commit: concurrent appends share one transaction and one
signature). Reads and proofs come from an in-memory Merkle tree kept in step with the database,
including entries other processes appended.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.engine import Connection

from audit import storage
from audit.bundle import Bundle, BundleEntry
from audit.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from audit.errors import AuditError
from audit.merkle import leaf_hash
from audit.note import Note, NoteSigner, parse_note
from audit.records import Event, PublicRecord, commit, opens
from audit.tree import MerkleTree
from kernel.errors import VerificationError

Sealed = tuple[PublicRecord, dict[str, tuple[bytes, bytes]]]  # what records.commit returns


@dataclass(frozen=True)
class Appended:
    """The acknowledgement of a durable append."""

    index: int
    event_id: str
    leaf_hash: bytes
    checkpoint_size: int


@dataclass(frozen=True)
class Entry:
    index: int
    data: bytes
    leaf_hash: bytes

    @property
    def record(self) -> PublicRecord:
        return PublicRecord.from_leaf(self.data)


class AuditLog:
    def __init__(self, url: str, signer: NoteSigner, batch_size: int = 1000,
                 batch_wait: float = 0.002):
        self.url = url
        self.signer = signer
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self._writer_engine, self._reader_engine = storage.engines(url)
        storage.metadata.create_all(self._writer_engine)
        self._lock = threading.RLock()
        self.tree = MerkleTree()
        self._queue: queue.Queue[tuple[Sealed, Future[Appended]] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._check_head()

    @property
    def origin(self) -> str:
        return self.signer.name

    # ---- writing ---------------------------------------------------------------------------

    def append(self, event: Event, timeout: float | None = 60.0) -> Appended:
        """Log ``event``; return once it is durable (committed with a signed checkpoint)."""
        if self._closed:
            raise AuditError("the audit log is closed")
        future: Future[Appended] = Future()
        self._ensure_writer()
        # Sealed here, in the caller's thread: the writer's critical path is the transaction,
        # and while it waits on the database (GIL released) the callers prepare the next batch.
        self._queue.put((commit(event), future))
        return future.result(timeout)

    def append_many(self, events: Sequence[Event]) -> list[Appended]:
        """Log several events in one transaction (one checkpoint); return once durable."""
        return self._commit([commit(e) for e in events])

    def _ensure_writer(self) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="audit-writer",
                                                daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.batch_size:
                try:
                    nxt = self._queue.get(timeout=self.batch_wait)
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            try:
                done = self._commit([sealed for sealed, _ in batch])
            except BaseException as exc:  # every waiter learns the batch failed
                for _, future in batch:
                    future.set_exception(exc if isinstance(exc, AuditError) else
                                         AuditError(f"audit append failed: {exc}"))
                continue
            for (_, future), appended in zip(batch, done, strict=True):
                future.set_result(appended)

    def _commit(self, items: list[Sealed]) -> list[Appended]:
        if not items:
            return []
        with self._lock:
            start = self.tree.size
            try:
                with self._writer_engine.begin() as connection:
                    storage.lock_for_append(connection)
                    self._sync(connection)
                    start = self.tree.size
                    rows, detail_rows, appended = [], [], []
                    for offset, (record, sealed) in enumerate(items):
                        index = start + offset
                        data = record.leaf_data()
                        digest = leaf_hash(data)
                        rows.append({"idx": index, "leaf_hash": digest, "data": data})
                        detail_rows += [{"idx": index, "name": name, "salt": salt, "value": value}
                                        for name, (salt, value) in sealed.items()]
                        appended.append((index, record.event_id, digest))
                    connection.execute(insert(storage.entries), rows)
                    if detail_rows:
                        connection.execute(insert(storage.details), detail_rows)
                    for _, _, digest in appended:
                        self.tree.append(digest)
                    checkpoint = Checkpoint(self.origin, self.tree.size, self.tree.root())
                    note = sign_checkpoint(checkpoint, self.signer)
                    connection.execute(insert(storage.checkpoints),
                                       {"size": checkpoint.size, "note": note.format()})
            except BaseException:
                self.tree.truncate(start)
                raise
            return [Appended(i, event_id, digest, self.tree.size)
                    for i, event_id, digest in appended]

    def close(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=30)
        self._writer_engine.dispose()
        self._reader_engine.dispose()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reading ---------------------------------------------------------------------------

    def _sync(self, connection: Connection) -> None:
        """Extend the in-memory tree with entries appended since (by any process)."""
        rows = connection.execute(
            select(storage.entries.c.idx, storage.entries.c.leaf_hash)
            .where(storage.entries.c.idx >= self.tree.size).order_by(storage.entries.c.idx)
        )
        for index, digest in rows:
            if index != self.tree.size:
                raise AuditError(f"audit log database is missing entry {self.tree.size}")
            self.tree.append(bytes(digest))

    def refresh(self) -> int:
        with self._lock, self._reader_engine.connect() as connection:
            self._sync(connection)
            return self.tree.size

    def _check_head(self) -> None:
        """Load the entries and check them against the latest signed checkpoint. The checkpoint
        is read first: it commits with its entries, so they are all there when read after it."""
        latest = self.latest_checkpoint()
        self.refresh()
        if latest is None:
            return
        checkpoint, _ = latest
        if checkpoint.size > self.tree.size or self.tree.root(checkpoint.size) != checkpoint.root:
            raise AuditError(
                f"audit log database does not match its latest signed checkpoint (size "
                f"{checkpoint.size}): refusing to use it; run `safecity audit verify`")

    def latest_checkpoint(self) -> tuple[Checkpoint, Note] | None:
        with self._reader_engine.connect() as connection:
            row = connection.execute(
                select(storage.checkpoints.c.note)
                .order_by(storage.checkpoints.c.size.desc(), storage.checkpoints.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return open_checkpoint(row[0], self.signer.verifier)

    def checkpoint(self) -> str:
        """The latest signed checkpoint, with any witness cosignatures, as note text."""
        latest = self.latest_checkpoint()
        if latest is None:
            raise AuditError("the audit log is empty: no checkpoint yet")
        checkpoint, note = latest
        return self._with_cosignatures(note, checkpoint.size).format()

    def checkpoint_at(self, size: int) -> Note:
        """The signed checkpoint of ``size`` with every witness cosignature stored for it."""
        with self._reader_engine.connect() as connection:
            row = connection.execute(
                select(storage.checkpoints.c.note).where(storage.checkpoints.c.size == size)
                .order_by(storage.checkpoints.c.id.desc()).limit(1)).first()
        if row is None:
            raise AuditError(f"no signed checkpoint of size {size}")
        _, note = open_checkpoint(row[0], self.signer.verifier)
        return self._with_cosignatures(note, size)

    def newest_witnessed(self, witnesses: Sequence[str], quorum: int) -> Note | None:
        """The largest checkpoint that at least ``quorum`` of ``witnesses`` cosigned, with its
        cosignatures (stored ones are checked when they are added)."""
        if not witnesses or quorum < 1:
            return None
        c = storage.cosignatures.c
        with self._reader_engine.connect() as connection:
            size = connection.execute(
                select(c.size).where(c.witness.in_(list(witnesses))).group_by(c.size)
                .having(func.count(func.distinct(c.witness)) >= quorum)
                .order_by(c.size.desc()).limit(1)).scalar()
        return None if size is None else self.checkpoint_at(int(size))

    def cosigned_size(self, witness: str) -> int:
        """The largest checkpoint size ``witness`` has cosigned here (0: none)."""
        with self._reader_engine.connect() as connection:
            size = connection.execute(
                select(func.max(storage.cosignatures.c.size))
                .where(storage.cosignatures.c.witness == witness)).scalar()
        return int(size or 0)

    def _with_cosignatures(self, note: Note, size: int) -> Note:
        with self._reader_engine.connect() as connection:
            lines = connection.execute(
                select(storage.cosignatures.c.line).where(storage.cosignatures.c.size == size)
            ).scalars().all()
        return _cosigned(note, lines)

    def add_cosignature(self, cosigned: str) -> None:
        """Store the witness signatures of a checkpoint note the log itself signed."""
        checkpoint, note = open_checkpoint(cosigned, self.signer.verifier)
        if self.tree.size < checkpoint.size or self.tree.root(checkpoint.size) != checkpoint.root:
            raise VerificationError("cosigned checkpoint is not one of this log's")
        rows = [{"size": checkpoint.size, "witness": s.name, "line": s.line()}
                for s in note.signatures if s.name != self.origin]
        with self._writer_engine.begin() as connection:
            for row in rows:
                connection.execute(storage.cosignatures.delete().where(
                    (storage.cosignatures.c.size == row["size"])
                    & (storage.cosignatures.c.witness == row["witness"])))
                connection.execute(insert(storage.cosignatures), row)

    def size(self) -> int:
        return self.refresh()

    def entry(self, index: int) -> Entry:
        with self._reader_engine.connect() as connection:
            row = connection.execute(
                select(storage.entries.c.data, storage.entries.c.leaf_hash)
                .where(storage.entries.c.idx == index)
            ).first()
        if row is None:
            raise AuditError(f"no audit entry {index}")
        return Entry(index, bytes(row[0]), bytes(row[1]))

    def entries(self, start: int = 0, limit: int = 1000) -> list[Entry]:
        with self._reader_engine.connect() as connection:
            rows = connection.execute(
                select(storage.entries.c.idx, storage.entries.c.data, storage.entries.c.leaf_hash)
                .where(storage.entries.c.idx >= start).order_by(storage.entries.c.idx)
                .limit(limit)
            ).all()
        return [Entry(int(i), bytes(d), bytes(h)) for i, d, h in rows]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        with self._lock:
            self.refresh()
            size = self.tree.size if size is None else size
            if not 0 <= index < size <= self.tree.size:
                raise AuditError(f"no entry {index} in a tree of size {size} "
                                 f"(the log holds {self.tree.size})")
            return self.tree.inclusion_proof(index, size)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        with self._lock:
            self.refresh()
            second = self.tree.size if second is None else second
            if not 0 < first <= second <= self.tree.size:
                raise AuditError(f"no consistency proof from size {first} to {second} "
                                 f"(the log holds {self.tree.size})")
            return self.tree.consistency_proof(first, second)

    def all_checkpoints(self) -> list[str]:
        return self.checkpoint_page(0, None)[0]

    def checkpoint_page(self, cursor: int, limit: int | None) -> tuple[list[str], int | None]:
        """Signed checkpoints in the order they were written (with cosignatures), after the
        one numbered ``cursor`` (0: from the first); and the cursor of the next page, or None.
        The number is the row's, so checkpoints of equal size (a fork) all appear."""
        table = storage.checkpoints
        query = select(table.c.id, table.c.size, table.c.note).where(
            table.c.id > cursor).order_by(table.c.id)
        with self._reader_engine.connect() as connection:
            rows = connection.execute(query if limit is None else query.limit(limit + 1)).all()
        following = None
        if limit is not None and len(rows) > limit:
            rows, following = rows[:limit], int(rows[limit - 1][0])
        if not rows:
            return [], None
        sizes = storage.cosignatures.c.size
        with self._reader_engine.connect() as connection:  # one query for the page's witnesses
            found = connection.execute(select(sizes, storage.cosignatures.c.line).where(
                sizes.between(min(int(r[1]) for r in rows), max(int(r[1]) for r in rows)))).all()
        lines: dict[int, list[str]] = {}
        for size, line in found:
            lines.setdefault(int(size), []).append(line)
        return [_cosigned(parse_note(note), lines.get(int(size), [])).format()
                for _, size, note in rows], following

    # ---- DPO-only details ------------------------------------------------------------------

    def details(self, index: int) -> dict[str, bytes]:
        """The personal details of entry ``index``, each checked against its commitment."""
        record = self.entry(index).record
        with self._reader_engine.connect() as connection:
            rows = connection.execute(
                select(storage.details.c.name, storage.details.c.salt, storage.details.c.value)
                .where(storage.details.c.idx == index)
            ).all()
        result = {}
        for name, salt, value in rows:
            if not opens(record, name, bytes(salt), bytes(value)):
                raise VerificationError(f"detail {name!r} of entry {index} does not match the "
                                        "commitment in the public log")
            result[name] = bytes(value)
        return result

    def opening(self, index: int, name: str) -> bytes:
        """The salt that opens detail ``name`` of entry ``index`` (given to a node so it can check
        what the entry commits to without reading the rest of the DPO-only store)."""
        with self._reader_engine.connect() as connection:
            salt = connection.execute(
                select(storage.details.c.salt)
                .where((storage.details.c.idx == index) & (storage.details.c.name == name))
            ).scalar_one_or_none()
        if salt is None:
            raise AuditError(f"entry {index} has no detail {name!r}")
        return bytes(salt)

    def erase_details(self, index: int, names: Sequence[str], by: Event) -> Appended:
        """Erase details at the end of their retention; the erasure itself is logged first."""
        appended = self.append(by)
        with self._writer_engine.begin() as connection:
            connection.execute(storage.details.delete().where(
                (storage.details.c.idx == index) & (storage.details.c.name.in_(list(names)))))
        return appended

    def bundle(self) -> Bundle:
        return read_bundle(self._reader_engine, self.origin)

    def bundle_page(self, cursor: int, limit: int) -> tuple[Bundle, int | None]:
        """Entries from index ``cursor`` on (at most ``limit``) with the checkpoints of the
        sizes they end (``cursor`` < size <= the next cursor; the last page: every larger
        size, so a checkpoint beyond a truncated log still shows); and the next cursor, or
        None on the last page. Pages joined in order are the whole bundle."""
        return read_bundle_page(self._reader_engine, self.origin, cursor, limit)


def _cosigned(note: Note, lines: Sequence[str]) -> Note:
    """``note`` with the witness signature lines stored for it."""
    for line in lines:
        for signature in parse_note(f"x\n\n{line}").signatures:
            note = note.with_signature(signature)
    return note


def read_bundle(engine: Engine, origin: str) -> Bundle:
    """Everything in the log's database as a bundle, read as stored (no checks: that is the
    verifier's job, and a tampered database must still be exportable to be examined)."""
    return read_bundle_page(engine, origin, 0, None)[0]


def read_bundle_page(engine: Engine, origin: str, cursor: int, limit: int | None
                     ) -> tuple[Bundle, int | None]:
    """One page of the bundle (``limit`` None: all of it), read as stored."""
    entries = storage.entries
    with engine.connect() as connection:
        query = select(entries.c.idx, entries.c.data, entries.c.leaf_hash).where(
            entries.c.idx >= cursor).order_by(entries.c.idx)
        rows = connection.execute(query if limit is None else query.limit(limit + 1)).all()
        following = None
        if limit is not None and len(rows) > limit:
            rows, following = rows[:limit], int(rows[limit - 1][0]) + 1

        def within(size: Any) -> Any:
            low = size > cursor if cursor else size >= 0
            return low if following is None else low & (size <= following)

        sizes = storage.checkpoints.c.size
        notes = connection.execute(
            select(sizes, storage.checkpoints.c.note).where(within(sizes))
            .order_by(sizes, storage.checkpoints.c.id)
        ).all()
        cosigned = storage.cosignatures.c.size
        lines = connection.execute(
            select(cosigned, storage.cosignatures.c.line).where(within(cosigned))
        ).all()
    extra: dict[int, str] = {}
    for size, line in lines:
        extra[int(size)] = extra.get(int(size), "") + line
    return Bundle(
        origin,
        tuple(BundleEntry(int(i), bytes(d), bytes(h)) for i, d, h in rows),
        tuple(note + extra.get(int(size), "") for size, note in notes),
    ), following
