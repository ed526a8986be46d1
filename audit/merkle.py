"""Merkle tree hashing and proofs, exactly as RFC 9162 section 2.1.

Leaves and interior nodes are domain-separated (section 2.1.1): a leaf hash is
``SHA-256(0x00 || data)``, a node hash ``SHA-256(0x01 || left || right)``, and the hash of the
empty tree is ``SHA-256()``. Generation takes a function that returns the Merkle Tree Hash of any
range of leaves, so it works over any storage; verification needs nothing but the proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from kernel.errors import VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

RangeHash = Callable[[int, int], bytes]  # MTH(D[start:end])


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 section 2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 section 2.1.1: SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` > 1): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (section 2.1.1), iteratively."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_path(index: int, size: int, mth: RangeHash) -> list[bytes]:
    """RFC 9162 section 2.1.3.1: PATH(m, D[n]), leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(mth(start + k, end))
            end = start + k
        else:
            path.append(mth(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_path(first: int, second: int, mth: RangeHash) -> list[bytes]:
    """RFC 9162 section 2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    path: list[bytes] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            path.append(mth(start + k, end))
            end = start + k
        else:
            path.append(mth(start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        path.append(mth(start, end))
    path.reverse()
    return path


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise VerificationError(f"{what} is not a {HASH_SIZE}-byte hash (got {size})")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 section 2.1.3.2. Raise :class:`VerificationError` saying why it fails."""
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    for position, item in enumerate(proof):
        _check_hash(item, f"proof element {position}")
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, bytes(leaf)
    for item in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(item, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise VerificationError("inclusion proof does not lead to the root hash")


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """RFC 9162 section 2.1.4.2. Raise :class:`VerificationError` saying why it fails."""
    if first < 0 or second < 0:
        raise VerificationError("tree sizes cannot be negative")
    if first > second:
        raise VerificationError(f"first size {first} is larger than second size {second}")
    if first == 0:
        raise VerificationError("consistency with the empty tree proves nothing")
    if first == second:
        if proof:
            raise VerificationError("trees of equal size need an empty consistency proof")
        if first_root != second_root:
            raise VerificationError(f"two different roots for tree size {first}: a fork")
        return
    _check_hash(first_root, "first root hash")
    _check_hash(second_root, "second root hash")
    for position, item in enumerate(proof):
        _check_hash(item, f"proof element {position}")
    if not proof:
        raise VerificationError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for item in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(item, fr)
            sr = node_hash(item, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is shorter than needed")
    if fr != first_root:
        raise VerificationError("consistency proof does not reproduce the first root")
    if sr != second_root:
        raise VerificationError("consistency proof does not reproduce the second root")
