"""Malformed checkpoints, notes, keys, proofs, bundles and receipts are rejected with a reason
and never crash the verifier (property tests: random input and mutations of valid input)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from audit.bundle import Bundle, Receipt
from audit.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from audit.cosignature import CosignerKey
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from audit.note import NoteSigner, NoteVerifier, parse_note
from audit.records import Actor, Event, PublicRecord, commit
from audit.tree import MerkleTree
from audit.verify import verify_bundle, verify_receipt
from privacy.signing import SigningKey
from tests.support.fuzzing import FUZZ, json_values, mutated, mutated_json, rejected_or_fine

LOG = NoteSigner("city.example/audit", SigningKey.generate())
RECORDS = [commit(Event(actor=Actor(pseudonym="p", role="dpo", agency="city"),
                        action="consultation", legal_basis="statute", outcome="ok",
                        details={"n": i}))[0].leaf_data() for i in range(6)]
TREE = MerkleTree(leaf_hash(d) for d in RECORDS)
CHECKPOINT = sign_checkpoint(Checkpoint(LOG.name, 6, TREE.root()), LOG).format()
RECEIPT = Receipt(2, RECORDS[2], tuple(TREE.inclusion_proof(2)), CHECKPOINT).to_json()
BUNDLE = {"format": "safecity-audit-bundle/v1", "origin": LOG.name,
          "entries": [{"index": i, "data": Receipt(i, d, (), "").to_json()["data"]}
                      for i, d in enumerate(RECORDS)],
          "checkpoints": [CHECKPOINT]}

@FUZZ
@given(st.one_of(st.text(max_size=400), mutated(CHECKPOINT)))
def test_checkpoints_and_notes(text: str) -> None:
    rejected_or_fine(lambda: parse_note(text))
    rejected_or_fine(lambda: parse_note(text.encode("utf-8", "surrogatepass")))
    rejected_or_fine(lambda: Checkpoint.from_text(text))
    rejected_or_fine(lambda: open_checkpoint(text, LOG.verifier))


@FUZZ
@given(st.one_of(st.text(max_size=200), mutated(LOG.verifier.vkey()), mutated(LOG.skey())))
def test_keys(text: str) -> None:
    rejected_or_fine(lambda: NoteVerifier.from_vkey(text))
    rejected_or_fine(lambda: CosignerKey.from_vkey(text))
    rejected_or_fine(lambda: NoteSigner.from_skey(text))


@FUZZ
@given(st.one_of(json_values, mutated_json(RECEIPT)))
def test_receipts(document) -> None:  # type: ignore[no-untyped-def]
    rejected_or_fine(lambda: verify_receipt(Receipt.from_json(document), LOG.verifier))


@FUZZ
@given(st.one_of(json_values, mutated_json(BUNDLE)))
def test_bundles(document) -> None:  # type: ignore[no-untyped-def]
    def check() -> None:
        report = verify_bundle(Bundle.from_json(document), LOG.verifier)
        assert all(str(p) for p in report.problems)
    rejected_or_fine(check)


@FUZZ
@given(st.binary(max_size=300))
def test_leaves(data: bytes) -> None:
    rejected_or_fine(lambda: PublicRecord.from_leaf(data))


hashes = st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40))


@FUZZ
@given(leaf=hashes, index=st.integers(-5, 2**64), size=st.integers(-5, 2**64),
       proof=st.lists(hashes, max_size=70), root=hashes)
def test_inclusion_proofs(leaf, index, size, proof, root) -> None:  # type: ignore[no-untyped-def]
    rejected_or_fine(lambda: verify_inclusion(leaf, index, size, proof, root))


@FUZZ
@given(first=st.integers(-5, 2**64), second=st.integers(-5, 2**64),
       proof=st.lists(hashes, max_size=70), a=hashes, b=hashes)
def test_consistency_proofs(first, second, proof, a, b) -> None:  # type: ignore[no-untyped-def]
    rejected_or_fine(lambda: verify_consistency(first, second, proof, a, b))


def test_the_valid_inputs_pass() -> None:
    record, checkpoint = verify_receipt(Receipt.from_json(RECEIPT), LOG.verifier)
    assert checkpoint.size == 6 and record.action == "consultation"
    assert verify_bundle(Bundle.from_json(BUNDLE), LOG.verifier).ok
