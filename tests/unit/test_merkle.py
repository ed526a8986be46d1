"""RFC 9162 proofs: the transparency-dev vectors, and generation checked against verification."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion
from audit.tree import MerkleTree
from kernel.errors import VerificationError

# transparency-dev/merkle's vectors, kept in the repository with their licence (SOURCE.md there)
VECTORS = Path(__file__).resolve().parents[1] / "data" / "merkle"


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _cases(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def test_the_vectors_are_there() -> None:
    assert len(_cases("inclusion")) >= 98 and len(_cases("consistency")) >= 98, VECTORS


@pytest.mark.parametrize("path", _cases("inclusion"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_inclusion_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"],
            [_b64(p) for p in case["proof"] or []], _b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _cases("consistency"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_consistency_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (case["size1"], case["size2"], [_b64(p) for p in case["proof"] or []],
            _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def _tree(n: int) -> tuple[MerkleTree, list[bytes]]:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    return MerkleTree(leaves), leaves


def test_known_roots() -> None:
    # RFC 6962 / transparency-dev reference roots for leaves "" and "\x00".
    tree = MerkleTree([leaf_hash(b"")])
    assert tree.root().hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert MerkleTree().root().hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 300), data=st.data())
def test_generated_proofs_verify_and_roots_match_the_definition(size: int, data) -> None:
    tree, leaves = _tree(size)
    assert tree.root() == root_of(leaves)
    index = data.draw(st.integers(0, size - 1))
    at = data.draw(st.integers(index + 1, size))
    verify_inclusion(leaves[index], index, at, tree.inclusion_proof(index, at), tree.root(at))
    first = data.draw(st.integers(1, size))
    verify_consistency(first, size, tree.consistency_proof(first, size), tree.root(first),
                       tree.root())
    with pytest.raises(VerificationError):
        wrong = leaf_hash(b"not in the log")
        verify_inclusion(wrong, index, at, tree.inclusion_proof(index, at), tree.root(at))


@settings(max_examples=200, deadline=None)
@given(size=st.integers(2, 200), data=st.data())
def test_any_flipped_bit_in_a_proof_is_rejected(size: int, data) -> None:
    tree, leaves = _tree(size)
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index)
    if not proof:
        return
    position = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    bad = bytearray(proof[position])
    bad[bit // 8] ^= 1 << (bit % 8)
    proof[position] = bytes(bad)
    with pytest.raises(VerificationError):
        verify_inclusion(leaves[index], index, size, proof, tree.root())
