"""Witnesses cosign only what is consistent with what they saw; notes and keys round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from audit.cosignature import Cosigner, CosignerKey
from audit.merkle import leaf_hash
from audit.note import NoteSigner, NoteVerifier, parse_note
from audit.tree import MerkleTree
from audit.witness import Witness
from kernel.errors import VerificationError
from privacy.signing import SigningKey

LOG = NoteSigner("city.example/audit", SigningKey.generate())
WITNESS = Cosigner("node-3.city.example/witness", SigningKey.generate())


def tree_of(n: int, salt: bytes = b"") -> MerkleTree:
    return MerkleTree(leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n))


def signed(tree: MerkleTree, size: int | None = None) -> str:
    size = tree.size if size is None else size
    return sign_checkpoint(Checkpoint(LOG.name, size, tree.root(size)), LOG).format()


def test_witness_cosigns_a_growing_log_and_remembers(tmp_path: Path) -> None:
    tree = tree_of(20)
    witness = Witness(WITNESS, [LOG.verifier], tmp_path / "state.json", clock=lambda: 1_700_000_000)
    note = witness.cosign(signed(tree, 7), [])
    assert WITNESS.public.verify(note) == 1_700_000_000
    assert witness.seen(LOG.name).size == 7
    cosigned = witness.cosign(signed(tree, 20), tree.consistency_proof(7, 20))
    checkpoint, parsed = open_checkpoint(cosigned.format(), LOG.verifier)
    assert checkpoint.size == 20 and WITNESS.public.verify(parsed)
    # a new process, same state file: it remembers size 20
    again = Witness(WITNESS, [LOG.verifier], tmp_path / "state.json")
    assert again.seen(LOG.name).size == 20


@pytest.mark.parametrize("attack", ["rollback", "fork", "bad-proof", "unknown-log", "forged"])
def test_witness_refuses_and_keeps_its_state(tmp_path: Path, attack: str) -> None:
    tree = tree_of(20)
    witness = Witness(WITNESS, [LOG.verifier], tmp_path / "state.json")
    witness.cosign(signed(tree, 10), [])
    other = tree_of(30, salt=b"rewritten history ")
    cases = {
        "rollback": (signed(tree, 5), [], "rollback"),
        "fork": (signed(other, 10), [], "a fork"),
        "bad-proof": (signed(other, 30), other.consistency_proof(10, 30), "does not reproduce"),
        "unknown-log": (sign_checkpoint(Checkpoint("elsewhere.example/log", 3, tree.root(3)),
                                        NoteSigner("elsewhere.example/log",
                                                   SigningKey.generate())).format(), [],
                        "does not follow"),
        "forged": (sign_checkpoint(Checkpoint(LOG.name, 20, tree.root(20)),
                                   NoteSigner(LOG.name, SigningKey.generate())).format(),
                   tree.consistency_proof(10, 20), "not signed by"),
    }
    text, proof, reason = cases[attack]
    with pytest.raises(VerificationError, match=reason):
        witness.cosign(text, proof)
    assert witness.seen(LOG.name).size == 10


def test_keys_round_trip_and_notes_reject_foreign_signatures() -> None:
    assert NoteVerifier.from_vkey(LOG.verifier.vkey()) == LOG.verifier
    assert CosignerKey.from_vkey(WITNESS.public.vkey()) == WITNESS.public
    assert NoteSigner.from_skey(LOG.skey()).verifier == LOG.verifier
    assert "seed" not in repr(LOG) and "secret" in repr(LOG)
    note = LOG.sign("hello\n")
    assert parse_note(note.format()) == note
    impostor = NoteSigner(LOG.name, SigningKey.generate())
    with pytest.raises(VerificationError, match="not signed by"):
        LOG.verifier.verify(parse_note(impostor.sign("hello\n").format()))
    with pytest.raises(VerificationError, match="does not verify"):
        tampered = note.format().replace("hello", "jello")
        LOG.verifier.verify(parse_note(tampered))
