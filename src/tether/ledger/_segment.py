"""Check one aligned segment of the log: the unit of (parallel) verification.

A segment is ``[start, stop)`` with ``start`` a multiple of ``2**SEGMENT_LEVEL`` and at
most that many leaves, so every Merkle node of level <= SEGMENT_LEVEL that completes
inside it covers leaves of this segment only. Its checks run level by level over lists
(C-speed comprehensions) instead of leaf by leaf, and need nothing from other segments.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from tether.errors import VerificationError
from tether.ledger._entry import ERASE_KIND, Entry, erase_subject
from tether.ledger._merkle import NODE_STRIDE
from tether.store._raw import RawReader, connect_raw

__all__ = ["SEGMENT_LEVEL", "SegmentResult", "check_segment"]

SEGMENT_LEVEL = 15  # 32,768 leaves: ~30 MB of rows at most in memory per worker
_CHUNK = 8192
_DIGEST_KEY = b'"payload_digest":"sha256:'


@dataclass
class SegmentResult:
    """What one segment contributes to the whole log's verification."""

    start: int
    good: int = 0  # leaves checked before the first problem (all of them if none)
    problem: tuple[int, str] | None = None
    frontier: list[bytes] = field(default_factory=list)  # compact range of the good leaves
    checkpoint_frontiers: dict[int, list[bytes]] = field(default_factory=dict)
    nodes_checked: int = 0


def check_segment(
    reader: RawReader,
    start: int,
    stop: int,
    checkpoint_sizes: Sequence[int],
    level: int = SEGMENT_LEVEL,
) -> SegmentResult:
    """Check entries ``[start, stop)`` and the Merkle nodes inside them.

    ``start`` is a multiple of ``2**level`` and ``stop - start <= 2**level``.
    ``checkpoint_sizes`` are tree sizes in ``(start, stop]`` whose frontier the caller
    needs to compare roots with signed checkpoints.
    """
    result = SegmentResult(start)
    leaves: list[bytes] = []
    for rows in reader.entries(start, stop, _CHUNK):
        first = start + len(leaves)
        checked, problem = _check_rows(reader, rows, first)
        leaves.extend(checked)
        if problem is None and len(rows) < min(_CHUNK, stop - first):
            problem = (start + len(leaves), _gap_message(start + len(leaves), None))
        if problem is not None:
            result.problem = problem
            break
    if result.problem is None and start + len(leaves) < stop:
        result.problem = (start + len(leaves), _gap_message(start + len(leaves), None))
    # Rows after the last complete tile have no stored node over them: check them
    # exactly (at most 2**NODE_STRIDE - 1 rows).
    tail = start + len(leaves) - len(leaves) % (1 << NODE_STRIDE)
    if tail < start + len(leaves):
        for rows in reader.entries(tail, start + len(leaves), _CHUNK):
            tail_leaves = leaves[tail - start :]
            tail_problem = _exact(reader, rows, tail, tail_leaves)
            if tail_problem is not None:
                del leaves[tail - start + len(tail_leaves) :]
                if result.problem is None or tail_problem[0] <= result.problem[0]:
                    result.problem = tail_problem
    result.good = len(leaves)
    levels = _levels(leaves)
    node_problem = _check_nodes(reader, start, levels, result, level)
    if node_problem is not None:
        first, span = node_problem[0], node_problem[2]
        # Localise exactly: an entry moved or forged with its leaf shows up per row.
        # A row inside the node's span that fails the exact check is the culprit.
        for rows in reader.entries(first, first + span, _CHUNK):
            row_problem = _exact(reader, rows, rows[0][0] if rows else first, [])
            if row_problem is not None:
                node_problem = (*row_problem, 1)
                break
        if result.problem is None or node_problem[0] <= result.problem[0]:
            result.problem = node_problem[:2]
    result.frontier = _frontier(levels, len(leaves))
    for size in checkpoint_sizes:
        if start < size <= start + len(leaves):
            result.checkpoint_frontiers[size] = _frontier(levels, size - start)
    return result


def _gap_message(index: int, next_idx: int | None) -> str:
    tail = "no row follows" if next_idx is None else f"the next stored row is {next_idx}"
    return f"entry {index} is missing ({tail})"


def _check_rows(
    reader: RawReader, rows: list[tuple[Any, ...]], first: int
) -> tuple[list[bytes], tuple[int, str] | None]:
    """Check rows that should hold indices first, first+1, ...; return good leaves."""
    sha256 = hashlib.sha256
    count = len(rows)
    ids, raws, stored, payloads, erased = zip(*rows, strict=True) if rows else ((),) * 5
    leaves = [sha256(b"\x00" + raw).digest() for raw in raws]
    # Column-wise, at C speed where possible. The fast path leaves the index field to
    # the Merkle nodes: a leaf at the wrong position cannot match the node recorded
    # over that position, and a node mismatch sends its span through _exact.
    if (
        ids == tuple(range(first, first + count))
        and stored == tuple(leaves)
        and None not in payloads
        and erased.count(None) == count
        and all(
            map(
                bytes.__contains__,
                raws,
                [_DIGEST_KEY + sha256(p).hexdigest().encode() for p in payloads],
            )
        )
    ):
        return leaves, None
    problem = _exact(reader, rows, first, leaves)
    return leaves, problem


def _exact(
    reader: RawReader, rows: list[tuple[Any, ...]], first: int, leaves: list[bytes]
) -> tuple[int, str] | None:
    """Find the first bad row exactly; ``leaves`` is cut to the good ones."""
    for offset, (idx, raw, stored_leaf, payload, erased_by) in enumerate(rows):
        index = first + offset
        if idx != index:
            del leaves[offset:]
            return index, _gap_message(index, idx)
        message = check_entry(reader, index, raw, payload, erased_by)
        if message is None and hashlib.sha256(b"\x00" + raw).digest() != stored_leaf:
            message = "entry bytes changed after they were appended (leaf hash differs)"
        if message is not None:
            del leaves[offset:]
            return index, message
    return None


def check_entry(
    reader: RawReader, index: int, raw: bytes, payload: bytes | None, erased_by: int | None
) -> str | None:
    """Check one entry exactly; return what is wrong, or None."""
    try:
        obj = orjson.loads(raw)
        Entry.parse(raw)
    except orjson.JSONDecodeError:
        return "entry is not valid JSON"
    except VerificationError as exc:
        return f"entry is malformed: {exc}"
    if obj.get("index") != index:
        return (
            f"row {index} holds the entry of index {obj.get('index')!r} "
            "(moved, inserted or swapped)"
        )
    digest = obj.get("payload_digest")
    if payload is not None and erased_by is not None:
        return f"payload was erased by entry {erased_by} but is stored again"
    if payload is not None:
        if "sha256:" + hashlib.sha256(payload).hexdigest() != digest:
            return "payload changed after it was appended (digest differs)"
        return None
    if erased_by is None:
        return "payload is missing and no erase entry accounts for it"
    eraser_raw = reader.entry(erased_by) if erased_by > index else None
    if eraser_raw is None:
        return f"payload erased by entry {erased_by}, which does not exist after it"
    try:
        eraser = orjson.loads(eraser_raw)
    except orjson.JSONDecodeError:
        return f"payload erased by entry {erased_by}, which is not valid JSON"
    if (
        not isinstance(eraser, dict)
        or eraser.get("kind") != ERASE_KIND
        or eraser.get("subject") != erase_subject(index)
    ):
        return f"payload erased by entry {erased_by}, which is not an erasure of this entry"
    return None


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete node over ``leaves``, level by level (level 0 = the leaves)."""
    sha256 = hashlib.sha256
    levels = [leaves]
    while len(levels[-1]) >= 2:
        pairs = iter(levels[-1])
        levels.append(
            [sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs, strict=False)]
        )
    return levels


def _check_nodes(
    reader: RawReader,
    start: int,
    levels: list[list[bytes]],
    result: SegmentResult,
    top: int,
) -> tuple[int, str, int] | None:
    """Compare the stored nodes inside the segment; return (first leaf, message, span)."""
    good = len(levels[0])
    expected: list[tuple[int, bytes]] = []
    for level in range(NODE_STRIDE, len(levels), NODE_STRIDE):
        base = start >> level
        expected.extend(
            ((((base + j + 1) << level) << 6) | level, digest)
            for j, digest in enumerate(levels[level])
        )
    expected.sort()
    stored = [
        (key, digest)
        for key, digest in reader.nodes((start + 1) << 6, ((start + good) << 6) | 63)
        if key & 63 <= top
    ]
    result.nodes_checked = len(expected)
    if stored == expected:
        return None
    for position, want in enumerate(expected):
        have = stored[position] if position < len(stored) else None
        if have != want:
            key = want[0] if have is None else min(want[0], have[0])
            return _node_problem(key)
    return _node_problem(stored[len(expected)][0])


def _node_problem(key: int) -> tuple[int, str, int]:
    level = key & 63
    span = 1 << level
    first = (key >> 6) - span
    return (
        first,
        f"entries {first}..{first + span - 1} differ from the Merkle node recorded "
        "when they were appended",
        span,
    )


def _frontier(levels: list[list[bytes]], count: int) -> list[bytes]:
    """The compact range (left to right) of the first ``count`` leaves of the segment."""
    hashes: list[bytes] = []
    consumed = 0
    for level in range(count.bit_length() - 1, -1, -1):
        if count >> level & 1:
            hashes.append(levels[level][consumed >> level])
            consumed += 1 << level
    return hashes


# -- worker processes -------------------------------------------------------------------
#
# Workers are plain `python -m tether.ledger._segment DIALECT TARGET` subprocesses fed
# length-prefixed pickles on stdin: unlike multiprocessing's spawn they do not re-import
# the caller's __main__ (the CLI with Typer, SQLAlchemy, ...), and unlike fork they are
# safe in a threaded process. Start-up is ~50 ms.


def read_frame(stream: IO[bytes]) -> Any:
    """Read one length-prefixed pickle (None at end of stream)."""
    header = stream.read(8)
    if len(header) < 8:
        return None
    # Only ever our own worker pipe: never unpickle anything else.
    return pickle.loads(stream.read(int.from_bytes(header, "big")))


def write_frame(stream: IO[bytes], obj: Any) -> None:
    """Write one length-prefixed pickle and flush."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "big") + data)
    stream.flush()


def _serve(dialect: str, target: str) -> None:
    reader = connect_raw(dialect, target)
    try:
        while (task := read_frame(sys.stdin.buffer)) is not None:
            write_frame(sys.stdout.buffer, check_segment(reader, *task))
    finally:
        reader.close()


if __name__ == "__main__":
    # Run the copy imported under its real name, so results pickle as
    # tether.ledger._segment.SegmentResult, not __main__.SegmentResult.
    from tether.ledger import _segment

    _segment._serve(sys.argv[1], sys.argv[2])
