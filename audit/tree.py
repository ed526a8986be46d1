"""An in-memory Merkle tree of leaf hashes with every complete subtree hash kept.

Level ``L`` holds the hashes of the aligned, complete subtrees of ``2**L`` leaves, packed in a
``bytearray``. Any range hash needs at most ``2 log n`` stored hashes, so roots and proofs at a
million leaves take microseconds, and the whole tree takes 64 bytes per leaf.
"""

from __future__ import annotations

from collections.abc import Iterable

from audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_path,
    inclusion_path,
    node_hash,
    split_point,
)


class MerkleTree:
    def __init__(self, leaf_hashes: Iterable[bytes] = ()):
        self._levels: list[bytearray] = [bytearray()]
        for leaf in leaf_hashes:
            self.append(leaf)

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash; return its index."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        index = self.size
        self._levels[0] += leaf
        level, position, current = 0, index, bytes(leaf)
        while position & 1:  # completes a subtree: store its hash one level up
            left = self._node(level, position - 1)
            current = node_hash(left, current)
            level += 1
            position >>= 1
            if len(self._levels) == level:
                self._levels.append(bytearray())
            self._levels[level] += current
        return index

    def truncate(self, size: int) -> None:
        """Forget every leaf from ``size`` on (an append whose transaction failed)."""
        if not 0 <= size <= self.size:
            raise ValueError(f"cannot truncate a tree of size {self.size} to {size}")
        for level, hashes in enumerate(self._levels):
            del hashes[(size >> level) * HASH_SIZE:]

    def leaf(self, index: int) -> bytes:
        return self._node(0, index)

    def _node(self, level: int, position: int) -> bytes:
        offset = position * HASH_SIZE
        return bytes(self._levels[level][offset:offset + HASH_SIZE])

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for ``0 <= start < end <= size``."""
        if not 0 <= start < end <= self.size:
            raise ValueError(f"range {start}:{end} is outside a tree of size {self.size}")
        width = end - start
        if width & (width - 1) == 0 and start % width == 0:
            return self._node(width.bit_length() - 1, start // width)
        k = split_point(width)
        return node_hash(self.range_hash(start, start + k), self.range_hash(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size > self.size or size < 0:
            raise ValueError(f"no tree of size {size}; the log holds {self.size}")
        return EMPTY_ROOT if size == 0 else self.range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if size > self.size:
            raise ValueError(f"no tree of size {size}; the log holds {self.size}")
        return inclusion_path(index, size, self.range_hash)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        second = self.size if second is None else second
        if second > self.size:
            raise ValueError(f"no tree of size {second}; the log holds {self.size}")
        if first == second:
            return []
        return consistency_path(first, second, self.range_hash)
