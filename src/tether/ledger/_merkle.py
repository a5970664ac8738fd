"""RFC 9162 (RFC 6962) Merkle tree hashing, compact ranges and proofs, with SHA-256.

Node ``(level, index)`` is the complete subtree over leaves ``[index << level, (index + 1)
<< level)``. :func:`inclusion_ranges` / :func:`consistency_ranges` name the ranges whose
hashes make a proof and :func:`proof_from_ranges` hashes them with one ``fetch`` (one
query); :func:`inclusion_proof` / :func:`consistency_proof` are the RFC's own definitions
over an in-memory list. Every problem raises :class:`ProofError`.

Example:
    >>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
    >>> frontier = CompactRange()
    >>> for leaf in leaves:
    ...     _ = frontier.append(leaf)
    >>> frontier.root() == root_from_leaf_hashes(leaves)
    True
    >>> verify_inclusion(leaves[3], 3, 5, inclusion_proof(3, leaves), frontier.root())
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from hmac import compare_digest

from tether.errors import ProofError

HASH_SIZE: int = 32
_sha256 = hashlib.sha256
EMPTY_ROOT: bytes = _sha256(b"").digest()

NodeId = tuple[int, int]
"""A node as ``(level, index)``."""
FetchNodes = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]
"""Reads many nodes at once and returns their hashes by ``(level, index)``."""


def leaf_hash(data: bytes) -> bytes:
    """Returns the RFC 9162 leaf hash ``SHA-256(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Returns the RFC 9162 inner node hash ``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} has {len(value)} bytes, expected {HASH_SIZE}")


def _check_hashes(values: Sequence[bytes], what: str) -> None:
    if set(map(len, values)) - {HASH_SIZE}:
        for i, value in enumerate(values):
            _check_hash(value, f"{what} {i}")


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """Returns the Merkle tree hash (MTH) of leaf hashes, iteratively, in O(n).

    Raises:
        ProofError: A leaf hash is not 32 bytes long.
    """
    if not leaves:
        return EMPTY_ROOT
    _check_hashes(leaves, "leaf hash")
    sha = _sha256
    level = list(leaves)
    while len(level) > 1:
        odd = level[-1] if len(level) & 1 else None
        pairs = iter(level)
        level = [sha(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs, strict=False)]
        if odd is not None:  # an unpaired last node moves up unchanged (RFC 9162 split rule)
            level.append(odd)
    return level[0]


NODE_STRIDE: int = 4
"""The store keeps complete subtree hashes only at levels that are multiples of this
(the leaves are kept with their entries): one node in fifteen. Any other node is
rebuilt from at most ``2 ** (NODE_STRIDE - 1)`` stored ones below it."""


def node_key(level: int, index: int) -> int:
    """Returns ``(tree size at which the node completes) * 64 + level``: creation order.

    Raises:
        ProofError: ``level`` is not in ``0..63`` or ``index`` is negative.
    """
    if not 0 <= level < 64 or index < 0:
        raise ProofError(f"no node at level {level}, index {index}")
    return (((index + 1) << level) << 6) | level


class CompactRange:
    """Frontier ("compact range") of a tree of ``size`` leaves: all it takes to append.

    Attributes:
        size: The number of leaves in the tree.
        hashes: The roots of the perfect subtrees of the binary decomposition of ``size``,
            left (largest) to right (smallest): one per set bit of ``size``.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Creates the frontier of a tree of ``size`` leaves from its hashes.

        Raises:
            ProofError: ``size`` < 0, or not one 32-byte hash per set bit of ``size``.
        """
        if size < 0:
            raise ProofError(f"compact range size must not be negative, got {size}")
        if len(hashes) != size.bit_count():
            raise ProofError(
                f"compact range of size {size} needs {size.bit_count()} hashes, got {len(hashes)}"
            )
        _check_hashes(hashes, "compact range hash")
        self.size: int = size
        self.hashes: list[bytes] = list(hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Appends one leaf hash (32 bytes, not the leaf data).

        Returns:
            The nodes of level >= 1 this completes, as ``(level, index, hash)``, bottom up.

        Raises:
            ProofError: ``leaf`` is not 32 bytes long.
        """
        if len(leaf) != 32:  # literal: faster than the global in this hot path
            raise ProofError(f"leaf hash has {len(leaf)} bytes, expected {HASH_SIZE}")
        size = self.size
        self.size = size + 1
        if not size & 1:
            self.hashes.append(leaf)
            return []
        hashes = self.hashes
        h = _sha256(b"\x01" + hashes.pop() + leaf).digest()
        size >>= 1  # from here on, size is the index of the node just completed
        if not size & 1:
            hashes.append(h)
            return [(1, size, h)]
        created = [(1, size, h)]
        level = 1
        while size & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            size >>= 1
            level += 1
            created.append((level, size, h))
        hashes.append(h)
        return created

    def root(self) -> bytes:
        """Returns the root hash of the tree, :data:`EMPTY_ROOT` when it is empty."""
        return fold_right(self.hashes) if self.hashes else EMPTY_ROOT

    def to_bytes(self) -> bytes:
        """Returns the frontier hashes concatenated (the size is stored apart)."""
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, blob: bytes) -> CompactRange:
        """Rebuilds a frontier from its size and :meth:`to_bytes` output.

        Raises:
            ProofError: ``blob`` does not hold exactly one hash per set bit of ``size``.
        """
        count = max(size, 0).bit_count()
        if len(blob) != HASH_SIZE * count:
            raise ProofError(
                f"compact range of size {size} needs {HASH_SIZE * count} bytes, got {len(blob)}"
            )
        return cls(size, [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)])

    def copy(self) -> CompactRange:
        """Returns an independent copy."""
        other = type(self).__new__(type(self))
        other.size, other.hashes = self.size, self.hashes.copy()
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self.size == other.size and self.hashes == other.hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"CompactRange(size={self.size}, root={self.root().hex()})"


def subtree_parts(start: int, end: int) -> list[NodeId]:
    """Splits ``[start, end)`` into complete aligned subtrees ``(level, index)``, in order.

    Greedy: each part is the largest aligned power of two that starts at ``start`` and fits.

    Raises:
        ProofError: Not ``0 <= start <= end``.
    """
    if not 0 <= start <= end:
        raise ProofError(f"bad leaf range [{start}, {end})")
    parts: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        parts.append((level, start >> level))
        start += 1 << level
    return parts


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hashes a range from its parts, ``node_hash(h0, fold_right(rest))``.

    That is the MTH of ``[a, b)`` split by :func:`subtree_parts` when ``a`` is a multiple of
    the largest power of two <= ``b - a`` (a complete subtree, or a tree's ragged right edge).

    Raises:
        ProofError: ``hashes`` is empty.
    """
    if not hashes:
        raise ProofError("cannot fold an empty list of hashes")
    sha = _sha256
    h = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        h = sha(b"\x01" + hashes[i] + h).digest()
    return h


def _split(n: int) -> int:
    """Returns the largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Returns the ranges ``[a, b)`` whose MTHs make the inclusion proof of leaf ``index``.

    Each is a complete aligned subtree or a suffix ``[a, size)``, in proof order: from the
    leaf's sibling up to the root's child (RFC 9162 §2.1.3.1).

    Raises:
        ProofError: ``index`` is not in ``[0, size)``.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is out of range for a tree of {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Same as :func:`inclusion_ranges` for the consistency proof (RFC 9162 §2.1.4.1).

    Empty when ``size1`` is 0 or equals ``size2``.

    Raises:
        ProofError: Not ``0 <= size1 <= size2``.
    """
    if not 0 <= size1 <= size2:
        raise ProofError(f"no consistency proof from tree size {size1} to {size2}")
    ranges: list[tuple[int, int]] = []
    if size1 == 0 or size1 == size2:
        return ranges
    lo, hi, whole = 0, size2, True
    while size1 != hi:
        mid = lo + _split(hi - lo)
        if size1 <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo, whole = mid, False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _foldable_parts(start: int, end: int) -> list[NodeId]:
    length = end - start
    if length > 0 and start % (1 << (length.bit_length() - 1)):
        raise ProofError(
            f"leaf range [{start}, {end}) is neither a complete subtree nor a tree's right edge"
        )
    return subtree_parts(start, end)


def _fold_fetched(parts: Sequence[NodeId], found: Mapping[NodeId, bytes]) -> bytes:
    if not parts:
        return EMPTY_ROOT
    hashes = []
    for node in parts:
        h = found.get(node)
        if h is None:
            raise ProofError(f"missing hash of node (level {node[0]}, index {node[1]})")
        _check_hash(h, f"hash of node (level {node[0]}, index {node[1]})")
        hashes.append(h)
    return fold_right(hashes)


def range_hash(start: int, end: int, fetch: FetchNodes) -> bytes:
    """Returns the MTH of leaves ``[start, end)`` from stored nodes, with one ``fetch`` call.

    ``start`` must be a multiple of the largest power of two <= ``end - start`` (true of
    proof ranges). ``range_hash(0, size, fetch)`` is the root of the tree of ``size`` leaves
    (:data:`EMPTY_ROOT`, without a fetch, for 0).

    Raises:
        ProofError: Bad range, or ``fetch`` misses a node or returns a bad hash.
    """
    parts = _foldable_parts(start, end)
    return _fold_fetched(parts, fetch(parts) if parts else {})


def proof_from_ranges(ranges: Sequence[tuple[int, int]], fetch: FetchNodes) -> list[bytes]:
    """Returns the MTH of each range, fetching every node needed in one ``fetch`` call.

    ``ranges`` come from :func:`inclusion_ranges` or :func:`consistency_ranges`; ``fetch``
    gets each distinct ``(level, index)`` once, and is not called for no ranges.

    Raises:
        ProofError: Bad range, or ``fetch`` misses a node or returns a bad hash.
    """
    parts = [_foldable_parts(start, end) for start, end in ranges]
    needed = list(dict.fromkeys(node for nodes in parts for node in nodes))
    found = fetch(needed) if needed else {}
    return [_fold_fetched(nodes, found) for nodes in parts]


def _path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, word for word."""
    n = len(leaves)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, leaves[:k]), root_from_leaf_hashes(leaves[k:])]
    return [*_path(m - k, leaves[k:]), root_from_leaf_hashes(leaves[:k])]


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1, word for word."""
    n = len(leaves)
    if m == n:
        return [] if whole else [root_from_leaf_hashes(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), root_from_leaf_hashes(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_from_leaf_hashes(leaves[:k])]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Reference inclusion proof of leaf ``index`` over in-memory leaf hashes.

    Raises:
        ProofError: ``index`` is out of range or a leaf hash is bad.
    """
    if not 0 <= index < len(leaves):
        raise ProofError(f"leaf index {index} is out of range for a tree of {len(leaves)}")
    _check_hashes(leaves, "leaf hash")
    return _path(index, leaves)


def consistency_proof(size1: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Reference consistency proof from ``size1`` to ``len(leaves)`` over in-memory leaves.

    Raises:
        ProofError: ``size1`` is not in ``[0, len(leaves)]`` or a leaf hash is bad.
    """
    if not 0 <= size1 <= len(leaves):
        raise ProofError(f"no consistency proof from tree size {size1} to {len(leaves)}")
    _check_hashes(leaves, "leaf hash")
    if size1 == 0 or size1 == len(leaves):
        return []
    return _subproof(size1, leaves, True)


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Returns the root an inclusion proof implies (RFC 9162 §2.1.3.2, steps 1-4).

    Raises:
        ProofError: ``index >= size``, wrong proof length, or a hash is not 32 bytes long.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is out of range for a tree of {size}")
    inner = (index ^ (size - 1)).bit_length()
    expected = inner + (index >> inner).bit_count()
    if len(proof) != expected:
        raise ProofError(
            f"inclusion proof has {len(proof)} hashes, expected {expected}"
            f" for leaf {index} in a tree of {size}"
        )
    _check_hash(leaf, "leaf hash")
    _check_hashes(proof, "inclusion proof hash")
    sha = _sha256
    fn, sn, r = index, size - 1, leaf
    for p in proof:  # the length check stands for the RFC's "sn is 0" checks
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = sha(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Checks that leaf hash ``leaf`` is at ``index`` in the tree of ``size`` with ``root``.

    Raises:
        ProofError: The proof does not verify; the message says why.
    """
    _check_hash(root, "root hash")
    if not compare_digest(root_from_inclusion_proof(leaf, index, size, proof), root):
        raise ProofError(
            f"inclusion proof for leaf {index} in a tree of {size} does not match the root hash"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Checks that the tree of ``size2`` with ``root2`` extends the one of ``size1``.

    Follows RFC 9162 §2.1.4.2. Size 0 (whose root must be :data:`EMPTY_ROOT`) is consistent
    with any tree, with an empty proof.

    Raises:
        ProofError: The proof does not verify; the message says why.
    """
    if not 0 <= size1 <= size2:
        raise ProofError(f"no consistency proof from tree size {size1} to {size2}")
    _check_hash(root1, "first root hash")
    _check_hash(root2, "second root hash")
    if size1 == 0 and not compare_digest(root1, EMPTY_ROOT):
        raise ProofError("first root hash is not the root of the empty tree (size 0)")
    if size1 == size2 or size1 == 0:
        if proof:
            raise ProofError(
                f"consistency proof from tree size {size1} to {size2} must be empty,"
                f" got {len(proof)} hashes"
            )
        if size1 == size2 and not compare_digest(root1, root2):
            raise ProofError(f"the two root hashes differ for the same tree size {size1}")
        return
    shift = (size1 & -size1).bit_length() - 1
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    power_of_two = size1 == 1 << shift
    expected = (0 if power_of_two else 1) + inner - shift + border
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes, expected {expected}"
            f" from tree size {size1} to {size2}"
        )
    _check_hashes(proof, "consistency proof hash")
    path = [root1, *proof] if power_of_two else list(proof)
    sha = _sha256
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:  # the length check stands for the RFC's "sn is 0" checks
        if fn & 1 or fn == sn:
            fr = sha(b"\x01" + c + fr).digest()
            sr = sha(b"\x01" + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    for got, want, which in ((fr, root1, "first"), (sr, root2, "second")):
        if not compare_digest(got, want):
            raise ProofError(
                f"consistency proof {size1} -> {size2} does not match the {which} root"
            )
