"""Property tests of the RFC 9162 Merkle toolkit in ``tether.ledger._merkle``.

One tree of ``N_MAX`` leaves is built once with :class:`CompactRange`; every node it reports
(plus the leaves at level 0) goes into ``NODES``, which plays the database for ``fetch``.
The reference proofs (the RFC's recursive definitions) are checked against the range-based
ones, and the verifiers against both, the bit flips, and changed sizes and indexes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.errors import ProofError
from tether.ledger._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    consistency_proof,
    consistency_ranges,
    fold_right,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    node_key,
    proof_from_ranges,
    range_hash,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    subtree_parts,
    verify_consistency,
    verify_inclusion,
)

N_MAX = 2000
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None)
PROOF_SETTINGS = settings(SETTINGS, max_examples=300)
TREE_SIZES = st.one_of(st.integers(1, N_MAX), st.integers(N_MAX // 2, N_MAX))

LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(N_MAX)]


def _build() -> tuple[
    dict[tuple[int, int], bytes], list[list[tuple[int, int, bytes]]], list[bytes]
]:
    frontier = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    created: list[list[tuple[int, int, bytes]]] = []
    roots = [frontier.root()]
    for i, leaf in enumerate(LEAVES):
        nodes[(0, i)] = leaf
        new = frontier.append(leaf)
        created.append(new)
        for level, index, h in new:
            assert (level, index) not in nodes
            nodes[(level, index)] = h
        roots.append(frontier.root())
    return nodes, created, roots


NODES, CREATED, ROOTS = _build()


# --- independent helpers: the RFC 9162 definitions, written out recursively -------------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


@functools.cache
def _inclusion_shape(index: int, size: int) -> tuple[str, ...]:
    """Side of each proof hash, bottom up: the one thing a verifier learns from index/size."""
    if size == 1:
        return ()
    k = _split(size)
    if index < k:
        return (*_inclusion_shape(index, k), "right")
    return (*_inclusion_shape(index - k, size - k), "left")


def _consistency_shape(size1: int, size2: int) -> Any:
    """The first and second roots as expressions over the proof hashes (numbered) and root1."""
    if size1 == size2:
        return "same" if size1 else "empty"
    if size1 == 0:
        return "zero"
    count = 0

    def sub(m: int, n: int, whole: bool) -> tuple[Any, Any]:
        nonlocal count
        if m == n:
            if whole:
                return "root1", "root1"
            count += 1
            return count - 1, count - 1
        k = _split(n)
        if m <= k:
            old, new = sub(m, k, whole)
            count += 1
            return old, ("node", new, count - 1)
        old, new = sub(m - k, n - k, False)
        count += 1
        return ("node", count - 1, old), ("node", count - 1, new)

    old, new = sub(size1, size2, True)
    return count, old, new


class Fetcher:
    """A ``fetch`` over ``NODES`` that records its calls and refuses nodes past ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        keys = list(keys)
        self.calls.append(keys)
        assert len(set(keys)) == len(keys), "fetch asked twice for one node"
        for level, index in keys:
            assert (index + 1) << level <= self.size, f"node {(level, index)} is past {self.size}"
        return {key: NODES[key] for key in keys}


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _check_range_shape(ranges: list[tuple[int, int]], size: int) -> None:
    for a, b in ranges:
        length = b - a
        assert 0 <= a < b <= size
        complete = length & (length - 1) == 0 and a % length == 0
        assert complete or b == size, (a, b, size)


# --- hashing, roots and the compact range ------------------------------------------------


def test_hash_constants() -> None:
    assert HASH_SIZE == 32
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert node_hash(b"a" * 32, b"b" * 32) != node_hash(b"b" * 32, b"a" * 32)


@pytest.mark.parametrize("size", range(130))
def test_root_from_leaf_hashes_is_the_mth(size: int) -> None:
    assert root_from_leaf_hashes(LEAVES[:size]) == _mth(LEAVES[:size])


def test_compact_range_root_matches_every_prefix() -> None:
    for size in range(N_MAX + 1):
        assert ROOTS[size] == root_from_leaf_hashes(LEAVES[:size]), size


def test_append_returns_exactly_the_nodes_that_complete() -> None:
    for i, new in enumerate(CREATED):
        size = i + 1
        levels = (size & -size).bit_length() - 1
        assert [(level, index) for level, index, _ in new] == [
            (level, (size >> level) - 1) for level in range(1, levels + 1)
        ]
        for level, index, h in new:
            assert h == root_from_leaf_hashes(LEAVES[index << level : (index + 1) << level])
    complete = {
        (level, index) for level in range(1, N_MAX.bit_length()) for index in range(N_MAX >> level)
    }
    assert {(level, index) for new in CREATED for level, index, _ in new} == complete


def test_node_key_order_is_creation_order() -> None:
    keys = []
    for i, new in enumerate(CREATED):
        keys.append(node_key(0, i))
        keys.extend(node_key(level, index) for level, index, _ in new)
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys) == len(NODES)


@SETTINGS
@given(st.integers(0, 63), st.integers(0, 2**40), st.integers(0, 63), st.integers(0, 2**40))
def test_node_key_sorts_by_completion_then_level(l1: int, i1: int, l2: int, i2: int) -> None:
    k1, k2 = node_key(l1, i1), node_key(l2, i2)
    assert k1 >> 6 == (i1 + 1) << l1
    assert (k1 < k2) == (((i1 + 1) << l1, l1) < ((i2 + 1) << l2, l2))
    assert (k1 == k2) == ((l1, i1) == (l2, i2))


@pytest.mark.parametrize(("level", "index"), [(-1, 0), (64, 0), (0, -1)])
def test_node_key_rejects_bad_nodes(level: int, index: int) -> None:
    with pytest.raises(ProofError):
        node_key(level, index)


def test_compact_range_round_trips_and_resumes() -> None:
    frontier = CompactRange()
    for size in range(N_MAX + 1):
        blob = frontier.to_bytes()
        assert len(blob) == HASH_SIZE * size.bit_count()
        again = CompactRange.from_bytes(size, blob)
        assert again == frontier
        assert again.size == size
        assert again.root() == ROOTS[size]
        assert CompactRange(size, frontier.hashes) == frontier
        # The frontier is the split of [0, size) into complete subtrees.
        assert frontier.hashes == [NODES[node] for node in subtree_parts(0, size)]
        if size % 97 == 0 and size < N_MAX:  # resume from the stored form
            copy = again.copy()
            for leaf in LEAVES[size : size + 40]:
                copy.append(leaf)
            assert copy.root() == ROOTS[min(size + 40, N_MAX)]
            assert again.root() == ROOTS[size], "copy() must not share state"
        if size < N_MAX:
            frontier.append(LEAVES[size])


@pytest.mark.parametrize(
    ("size", "hashes"),
    [(-1, []), (3, [LEAVES[0]]), (2, [LEAVES[0], LEAVES[1]]), (1, [b"short"]), (0, [LEAVES[0]])],
)
def test_compact_range_rejects_bad_state(size: int, hashes: list[bytes]) -> None:
    with pytest.raises(ProofError):
        CompactRange(size, hashes)


def test_compact_range_rejects_bad_input() -> None:
    with pytest.raises(ProofError, match="needs 64 bytes, got 65"):
        CompactRange.from_bytes(3, bytes(65))
    frontier = CompactRange(1, [LEAVES[0]])
    with pytest.raises(ProofError, match="leaf hash has 31 bytes"):
        frontier.append(bytes(31))
    assert frontier.size == 1
    assert frontier.hashes == [LEAVES[0]]
    assert repr(CompactRange()) == f"CompactRange(size=0, root={EMPTY_ROOT.hex()})"
    with pytest.raises(ProofError):
        root_from_leaf_hashes([LEAVES[0], b"x" * 31, b"x" * 33])


# --- ranges ------------------------------------------------------------------------------


@SETTINGS
@given(st.integers(0, 2**40), st.integers(0, 2**12))
def test_subtree_parts_cover_the_range_with_aligned_parts(start: int, length: int) -> None:
    end = start + length
    parts = subtree_parts(start, end)
    position = start
    for level, index in parts:
        assert index << level == position  # aligned and contiguous
        size = 1 << level
        # Greedy: the next bigger aligned subtree would not be aligned or would not fit.
        assert position % (2 * size) != 0 or position + 2 * size > end
        position += size
    assert position == end
    assert len(parts) <= 2 * max(length, 1).bit_length()


def test_subtree_parts_rejects_bad_ranges() -> None:
    with pytest.raises(ProofError):
        subtree_parts(5, 4)
    with pytest.raises(ProofError):
        subtree_parts(-1, 4)
    assert subtree_parts(7, 7) == []
    assert subtree_parts(0, 11) == [(3, 0), (1, 4), (0, 10)]
    assert subtree_parts(3, 12) == [(0, 3), (2, 1), (2, 2)]


def test_fold_right() -> None:
    a, b, c = LEAVES[:3]
    assert fold_right([a]) == a
    assert fold_right([a, b, c]) == node_hash(a, node_hash(b, c))
    with pytest.raises(ProofError):
        fold_right([])


@SETTINGS
@given(st.data())
def test_range_hash(data: st.DataObject) -> None:
    size = data.draw(st.integers(0, N_MAX), label="size")
    fetch = Fetcher(size)
    assert range_hash(0, size, fetch) == ROOTS[size]
    assert len(fetch.calls) == (1 if size else 0)
    if size:
        index = data.draw(st.integers(0, size - 1), label="index")
        for a, b in inclusion_ranges(index, size):
            assert range_hash(a, b, Fetcher(size)) == root_from_leaf_hashes(LEAVES[a:b])


def test_range_hash_rejects_bad_ranges_and_bad_fetches() -> None:
    with pytest.raises(ProofError, match="neither a complete subtree"):
        range_hash(1, 5, Fetcher(8))
    with pytest.raises(ProofError, match="missing hash of node"):
        range_hash(0, 8, lambda keys: {})
    with pytest.raises(ProofError, match="has 3 bytes"):
        range_hash(0, 8, lambda keys: dict.fromkeys(keys, b"abc"))
    assert proof_from_ranges([], Fetcher(0)) == []


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (-1, 5)])
def test_inclusion_ranges_reject_bad_index(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        inclusion_ranges(index, size)
    with pytest.raises(ProofError):
        inclusion_proof(index, LEAVES[: max(size, 0)])


@pytest.mark.parametrize(("size1", "size2"), [(3, 2), (-1, 2), (1, 0)])
def test_consistency_ranges_reject_bad_sizes(size1: int, size2: int) -> None:
    with pytest.raises(ProofError):
        consistency_ranges(size1, size2)
    with pytest.raises(ProofError):
        consistency_proof(size1, LEAVES[: max(size2, 0)])


# --- proofs: exhaustive on small trees ---------------------------------------------------


@pytest.mark.parametrize("size", range(1, 41))
def test_small_trees_all_proofs(size: int) -> None:
    leaves = LEAVES[:size]
    for index in range(size):
        proof = inclusion_proof(index, leaves)
        ranges = inclusion_ranges(index, size)
        _check_range_shape(ranges, size)
        assert [root_from_leaf_hashes(LEAVES[a:b]) for a, b in ranges] == proof
        assert proof_from_ranges(ranges, Fetcher(size)) == proof
        verify_inclusion(leaves[index], index, size, proof, ROOTS[size])
    for size1 in range(size + 1):
        proof = consistency_proof(size1, leaves)
        ranges = consistency_ranges(size1, size)
        _check_range_shape(ranges, size)
        assert [root_from_leaf_hashes(LEAVES[a:b]) for a, b in ranges] == proof
        assert proof_from_ranges(ranges, Fetcher(size)) == proof
        verify_consistency(size1, size, proof, ROOTS[size1], ROOTS[size])


# --- proofs: random trees up to N_MAX, with mutations ------------------------------------


def _inclusion_accepted(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except ProofError:
        return False
    return True


@PROOF_SETTINGS
@given(st.data())
def test_inclusion_proofs(data: st.DataObject) -> None:
    size = data.draw(TREE_SIZES, label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = LEAVES[index], ROOTS[size]
    proof = inclusion_proof(index, LEAVES[:size])
    fetch = Fetcher(size)
    assert proof_from_ranges(inclusion_ranges(index, size), fetch) == proof
    assert len(fetch.calls) == (1 if proof else 0)
    verify_inclusion(leaf, index, size, proof, root)
    assert root_from_inclusion_proof(leaf, index, size, proof) == root

    bit = st.integers(0, 8 * HASH_SIZE - 1)
    for i in range(len(proof)):
        bad = [*proof[:i], _flip(proof[i], data.draw(bit)), *proof[i + 1 :]]
        assert not _inclusion_accepted(leaf, index, size, bad, root)
    assert not _inclusion_accepted(leaf, index, size, proof, _flip(root, data.draw(bit)))
    assert not _inclusion_accepted(_flip(leaf, data.draw(bit)), index, size, proof, root)
    assert not _inclusion_accepted(leaf, index, size, [*proof, proof[-1] if proof else root], root)
    if proof:
        assert not _inclusion_accepted(leaf, index, size, proof[:-1], root)
        assert not _inclusion_accepted(leaf, index, size, [*proof[:-1], proof[-1][:31]], root)
    assert not _inclusion_accepted(leaf[:31], index, size, proof, root)
    assert not _inclusion_accepted(leaf, index, size, proof, root + b"\x00")

    other = st.integers(-2, 2 * size + 2)
    for new_index in {index - 1, index + 1, data.draw(other, label="other index")} - {index}:
        assert not _inclusion_accepted(leaf, new_index, size, proof, root)
    for new_size in {size - 1, size + 1, data.draw(other, label="other size")} - {size}:
        # RFC 9162 does not bind the size into the hashes: a tree size that gives the leaf the
        # same path verifies too (the signed checkpoint pins the size). Any other is refused.
        same = 0 <= index < new_size and _inclusion_shape(index, new_size) == _inclusion_shape(
            index, size
        )
        assert _inclusion_accepted(leaf, index, new_size, proof, root) == same


def _consistency_accepted(size1: int, size2: int, proof: list[bytes], r1: bytes, r2: bytes) -> bool:
    try:
        verify_consistency(size1, size2, proof, r1, r2)
    except ProofError:
        return False
    return True


@PROOF_SETTINGS
@given(st.data())
def test_consistency_proofs(data: st.DataObject) -> None:
    size2 = data.draw(TREE_SIZES, label="size2")
    size1 = data.draw(st.integers(0, size2), label="size1")
    root1, root2 = ROOTS[size1], ROOTS[size2]
    proof = consistency_proof(size1, LEAVES[:size2])
    fetch = Fetcher(size2)
    assert proof_from_ranges(consistency_ranges(size1, size2), fetch) == proof
    assert len(fetch.calls) == (1 if proof else 0)
    verify_consistency(size1, size2, proof, root1, root2)

    bit = st.integers(0, 8 * HASH_SIZE - 1)
    for i in range(len(proof)):
        bad = [*proof[:i], _flip(proof[i], data.draw(bit)), *proof[i + 1 :]]
        assert not _consistency_accepted(size1, size2, bad, root1, root2)
    assert not _consistency_accepted(size1, size2, proof, _flip(root1, data.draw(bit)), root2)
    if size1 != size2:
        assert not _consistency_accepted(size1, size2, proof, root2, root1)
    if size1 > 0:  # every tree extends the empty one: with size1 = 0, root2 is not checked
        assert not _consistency_accepted(size1, size2, proof, root1, _flip(root2, data.draw(bit)))
    assert not _consistency_accepted(size1, size2, [*proof, root1], root1, root2)
    if proof:
        assert not _consistency_accepted(size1, size2, proof[:-1], root1, root2)
        assert not _consistency_accepted(size1, size2, [root1, *proof[1:]], root1, root2)
    assert not _consistency_accepted(size1, size2, proof, root1[:31], root2)
    assert not _consistency_accepted(size1, size2, proof, root1, root2[:31])

    other = st.integers(-2, 2 * size2 + 2)
    shape = _consistency_shape(size1, size2)
    pairs = {
        (size1 - 1, size2),
        (size1 + 1, size2),
        (size1, size2 - 1),
        (size1, size2 + 1),
        (data.draw(other, label="other size1"), size2),
        (size1, data.draw(other, label="other size2")),
    } - {(size1, size2)}
    for new1, new2 in pairs:
        # As for inclusion, sizes that give the same computation verify as well.
        same = 0 <= new1 <= new2 and _consistency_shape(new1, new2) == shape
        assert _consistency_accepted(new1, new2, proof, root1, root2) == same, (new1, new2)


# --- messages and edge cases -------------------------------------------------------------


def test_error_messages_name_the_problem() -> None:
    proof = inclusion_proof(5, LEAVES[:8])
    with pytest.raises(
        ProofError, match=r"inclusion proof has 2 hashes, expected 3 for leaf 5 in a tree of 8"
    ):
        verify_inclusion(LEAVES[5], 5, 8, proof[:2], ROOTS[8])
    with pytest.raises(ProofError, match=r"leaf index 8 is out of range for a tree of 8"):
        verify_inclusion(LEAVES[5], 8, 8, proof, ROOTS[8])
    with pytest.raises(ProofError, match=r"does not match the root hash"):
        verify_inclusion(LEAVES[4], 5, 8, proof, ROOTS[8])
    with pytest.raises(ProofError, match=r"inclusion proof hash 1 has 0 bytes, expected 32"):
        verify_inclusion(LEAVES[5], 5, 8, [proof[0], b"", proof[2]], ROOTS[8])
    cons = consistency_proof(3, LEAVES[:7])
    with pytest.raises(ProofError, match=r"consistency proof has 0 hashes, expected 4 from"):
        verify_consistency(3, 7, [], ROOTS[3], ROOTS[7])
    with pytest.raises(ProofError, match=r"no consistency proof from tree size 7 to 3"):
        verify_consistency(7, 3, cons, ROOTS[7], ROOTS[3])
    with pytest.raises(ProofError, match=r"must be empty, got 4 hashes"):
        verify_consistency(7, 7, cons, ROOTS[7], ROOTS[7])
    with pytest.raises(ProofError, match=r"does not match the second root"):
        verify_consistency(3, 7, cons, ROOTS[3], ROOTS[6])


def test_empty_tree_edges() -> None:
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 5, [], EMPTY_ROOT, ROOTS[5])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 5, [], ROOTS[1], ROOTS[5])
    with pytest.raises(ProofError):
        verify_consistency(0, 5, [ROOTS[5]], EMPTY_ROOT, ROOTS[5])
    with pytest.raises(ProofError):
        verify_inclusion(EMPTY_ROOT, 0, 0, [], EMPTY_ROOT)
    assert consistency_proof(0, LEAVES[:5]) == consistency_proof(5, LEAVES[:5]) == []
    assert consistency_ranges(0, 0) == []
