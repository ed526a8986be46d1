"""The audit log's Python API on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import insert

from audit import storage
from audit.checkpoint import open_checkpoint
from audit.errors import AuditError
from audit.log import AuditLog
from audit.merkle import verify_consistency, verify_inclusion
from audit.records import PublicRecord
from audit.verify import verify_bundle
from kernel.errors import VerificationError
from tests.conftest import audit_event


def test_append_is_durable_signed_and_provable(audit_db: str, log_signer) -> None:
    with AuditLog(audit_db, log_signer) as log:
        first = log.append(audit_event(0, plate="AB12CDE"))
        assert first.index == 0 and first.checkpoint_size == 1
        done = log.append_many([audit_event(n) for n in range(1, 40)])
        assert [d.index for d in done] == list(range(1, 40))
        checkpoint, _ = open_checkpoint(log.checkpoint(), log_signer.verifier)
        assert checkpoint.size == 40
        for index in (0, 17, 39):
            entry = log.entry(index)
            verify_inclusion(entry.leaf_hash, index, 40, log.inclusion_proof(index, 40),
                             checkpoint.root)
        verify_consistency(1, 40, log.consistency_proof(1, 40), log.tree.root(1), checkpoint.root)
    # reopening reads the same history back, and checks it against the latest checkpoint
    with AuditLog(audit_db, log_signer) as again:
        assert again.size() == 40
        assert again.entry(0).record.event_id == first.event_id


def test_personal_details_are_committed_not_published(audit_db: str, log_signer) -> None:
    with AuditLog(audit_db, log_signer) as log:
        log.append(audit_event(1, plate="AB12CDE", case_notes="suspect seen near the bank"))
        data = log.entry(0).data
        assert b"AB12CDE" not in data and b"bank" not in data
        record = PublicRecord.from_leaf(data)
        assert set(record.commitments) == {"plate", "case_notes"}
        details = log.details(0)
        assert details["plate"] == b'"AB12CDE"'
        # erasure: the detail goes, the erasure is logged first, the tree is untouched
        root_before = log.tree.root(1)
        erased = log.erase_details(0, ["case_notes"], audit_event(2))
        assert erased.index == 1
        assert set(log.details(0)) == {"plate"}
        assert log.tree.root(1) == root_before
        assert verify_bundle(log.bundle(), log_signer.verifier).ok


def test_a_detail_swapped_in_the_store_is_caught(tmp_path, log_signer) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with AuditLog(url, log_signer) as log:
        log.append(audit_event(1, plate="AB12CDE"))
        with log._writer_engine.begin() as connection:
            connection.execute(storage.details.update().values(value=b'"ZZ99ZZZ"'))
        with pytest.raises(VerificationError, match="does not match the commitment"):
            log.details(0)


def test_concurrent_threads_share_batches(tmp_path, log_signer) -> None:
    with AuditLog(f"sqlite:///{tmp_path / 'a.db'}", log_signer, batch_wait=0.01) as log:
        results = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            for k in range(25):
                done = log.append(audit_event(n * 100 + k))
                with lock:
                    results.append(done)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r.index for r in results) == list(range(200))
        checkpoints = log.all_checkpoints()
        assert len(checkpoints) < 200  # batched: fewer checkpoints than appends
        assert verify_bundle(log.bundle(), log_signer.verifier).ok


def test_a_failed_transaction_acknowledges_nothing_and_leaves_no_trace(tmp_path, log_signer
                                                                        ) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with AuditLog(url, log_signer) as log:
        log.append(audit_event(0))
        # fault injected: another writer took index 1 behind this log's back, out of order
        with log._writer_engine.begin() as connection:
            connection.execute(insert(storage.entries),
                               {"idx": 5, "leaf_hash": b"\x00" * 32, "data": b"{}"})
        with pytest.raises(AuditError, match="missing entry 1"):
            log.append(audit_event(1))
        assert log.tree.size == 1
        with log._writer_engine.begin() as connection:
            connection.execute(storage.entries.delete().where(storage.entries.c.idx == 5))
        assert log.append(audit_event(2)).index == 1


def test_a_tampered_database_is_refused_at_start(tmp_path, log_signer) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with AuditLog(url, log_signer) as log:
        log.append_many([audit_event(n) for n in range(5)])
        with log._writer_engine.begin() as connection:
            connection.execute(storage.entries.update().where(storage.entries.c.idx == 2)
                               .values(leaf_hash=b"\x01" * 32))
    with pytest.raises(AuditError, match="does not match its latest signed checkpoint"):
        AuditLog(url, log_signer)


def test_bad_requests_are_clear(tmp_path, log_signer) -> None:
    with AuditLog(f"sqlite:///{tmp_path / 'a.db'}", log_signer) as log:
        with pytest.raises(AuditError, match="empty"):
            log.checkpoint()
        log.append(audit_event(0))
        with pytest.raises(AuditError, match="no audit entry 9"):
            log.entry(9)
        with pytest.raises(AuditError, match="no entry 3 in a tree of size 1"):
            log.inclusion_proof(3)
        with pytest.raises(AuditError, match="no consistency proof from size 0"):
            log.consistency_proof(0)


def test_pages_of_checkpoints_and_of_the_bundle_join_into_the_whole(audit_db: str,
                                                                    log_signer) -> None:
    """A page of checkpoints carries the witnesses' cosignatures as the whole list does; the
    bundle's pages, joined, are the whole bundle (each checkpoint on the page whose entries
    it ends)."""
    from audit.bundle import joined
    from audit.cosignature import Cosigner
    from audit.note import parse_note
    from privacy.signing import SigningKey

    witness = Cosigner("node-3.city.example/witness", SigningKey.generate())
    with AuditLog(audit_db, log_signer) as log:
        for n in range(9):
            log.append_many([audit_event(n * 10 + k) for k in range(n % 3 + 1)])
        cosigned = parse_note(log.checkpoint()).with_signature(
            witness.cosign(parse_note(log.checkpoint()), 1_700_000_000))
        log.add_cosignature(cosigned.format())
        whole, pages, cursor = log.all_checkpoints(), [], 0
        while cursor is not None:
            page, cursor = log.checkpoint_page(cursor, 4)
            assert len(page) <= 4
            pages += page
        assert pages == whole and witness.name in whole[-1] and len(whole) == 9
        parts, start = [], 0
        while start is not None:
            part, start = log.bundle_page(start, 5)
            parts.append(part)
        assert joined(parts) == log.bundle() and len(parts) == 4
