"""Verify the whole ledger from its stored rows, streaming, in bounded memory.

For every index, in order: the row is there (no gap), the entry names its own
index (nothing moved, inserted or swapped), its bytes still hash to the leaf
recorded at append time, its payload still hashes to the digest inside it (or was
erased by an erase entry that names it). The tree is rebuilt on the way and every
stored Merkle node, every stored checkpoint, the head and a caller's checkpoint are
compared with it. The report names the first bad index and what is wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from sqlalchemy import Connection

from tether.errors import SignatureError
from tether.ledger._merkle import CompactRange, node_key
from tether.ledger._note import Checkpoint, Verifier
from tether.store import Store
from tether.store import ledger_repo as repo

__all__ = ["Problem", "VerifyReport", "verify_ledger"]

_ERASE_KIND = "payload.erased"


@dataclass(frozen=True)
class Problem:
    """One thing found wrong; ``index`` is the entry it concerns, if any."""

    index: int | None
    message: str


@dataclass
class VerifyReport:
    """The outcome of :func:`verify_ledger`."""

    size: int = 0
    entries_checked: int = 0
    checkpoints_checked: int = 0
    nodes_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        """The lowest entry index with a problem (None if none names an entry)."""
        indices = [p.index for p in self.problems if p.index is not None]
        return min(indices) if indices else None

    def summary(self) -> str:
        """One line saying what was checked and the first problem, if any."""
        if self.ok:
            return (
                f"ledger intact: {self.entries_checked} entries, {self.nodes_checked} "
                f"Merkle nodes and {self.checkpoints_checked} signed checkpoints verified"
            )
        first = self.first_bad_index
        problem = next(
            (p for p in self.problems if p.index == first) if first is not None else iter(()),
            self.problems[0],
        )
        where = f"first bad index {first}: " if first is not None else ""
        return f"ledger NOT intact: {where}{problem.message}"


def verify_ledger(
    store: Store,
    verifier: Verifier,
    *,
    extra: Checkpoint | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Recompute the log from its rows and compare it with everything that vouches for it.

    ``extra`` is a checkpoint the caller kept (already signature-checked by them or
    parsed with :meth:`Checkpoint.open`). ``progress(done, total)`` is called per chunk.
    """
    report = VerifyReport()
    with store.read() as conn:
        head = repo.read_head(conn)
        head_size = head.size if head is not None else 0
        report.size = head_size
        expected = _checkpoints(conn, verifier, report)
        if extra is not None:
            expected.setdefault(extra.size, []).append((extra.root, "the checkpoint you gave"))
        tree = _walk(conn, report, expected, head_size, progress)
    total = tree.size
    if head is None:
        report.problems.append(Problem(None, "the ledger has no head row (not initialised)"))
    elif total != head.size or tree.root() != head.root:
        report.problems.append(
            Problem(
                min(total, head.size),
                f"the head says {head.size} entries, the rows give {total}"
                if total != head.size
                else "the head's root differs from the root rebuilt from the rows",
            )
        )
    for size in sorted(s for s in expected if s > total):
        for _root, what in expected[size]:
            report.problems.append(
                Problem(total, f"{what} covers {size} entries but only {total} exist: truncated")
            )
    return report


def _checkpoints(
    conn: Connection, verifier: Verifier, report: VerifyReport
) -> dict[int, list[tuple[bytes, str]]]:
    expected: dict[int, list[tuple[bytes, str]]] = {}
    for row in repo.checkpoint_rows(conn):
        try:
            cp = Checkpoint.open(row.note, verifier)
        except SignatureError as exc:
            report.problems.append(Problem(None, f"stored checkpoint at size {row.size}: {exc}"))
            continue
        if cp.size != row.size or cp.root != row.root:
            report.problems.append(
                Problem(None, f"stored checkpoint row {row.size} disagrees with its signed note")
            )
        expected.setdefault(cp.size, []).append((cp.root, f"signed checkpoint {cp.size}"))
        report.checkpoints_checked += 1
    return expected


def _walk(
    conn: Connection,
    report: VerifyReport,
    expected: dict[int, list[tuple[bytes, str]]],
    head_size: int,
    progress: Callable[[int, int], None] | None,
) -> CompactRange:
    tree = CompactRange()
    sha256 = hashlib.sha256
    loads = orjson.loads
    problems = report.problems
    nodes = _NodeStream(conn)
    good_until = 0  # every checkpoint up to here matched
    for chunk in repo.iter_entry_rows(conn):
        for idx, raw, stored_leaf, payload, erased_by in chunk:
            index = tree.size
            if idx != index:
                problems.append(
                    Problem(index, f"entry {index} is missing (the next stored row is {idx})")
                )
                return tree
            problem = _check_entry(conn, index, raw, payload, erased_by, loads)
            leaf = sha256(b"\x00" + raw).digest()
            if problem is None and leaf != stored_leaf:
                problem = "entry bytes changed after they were appended (leaf hash differs)"
            if problem is not None:
                problems.append(Problem(index, problem))
                return tree
            for level, node_index, digest in tree.append(leaf):
                if not nodes.check(node_key(level, node_index), digest):
                    start = node_index << level
                    problems.append(
                        Problem(
                            start,
                            f"entries {start}..{start + (1 << level) - 1} differ from the "
                            f"Merkle node recorded when they were appended",
                        )
                    )
                    return tree
            for root, what in expected.get(tree.size, ()):
                if root != tree.root():
                    problems.append(
                        Problem(
                            good_until,
                            f"the log differs from {what}: an entry in "
                            f"{good_until}..{tree.size - 1} was rewritten",
                        )
                    )
                    return tree
            if tree.size in expected:
                good_until = tree.size
        report.entries_checked = tree.size
        report.nodes_checked = nodes.checked
        if progress is not None:
            progress(tree.size, head_size)
    return tree


def _check_entry(
    conn: Connection,
    index: int,
    raw: bytes,
    payload: bytes | None,
    erased_by: int | None,
    loads: Callable[[bytes], object],
) -> str | None:
    try:
        obj = loads(raw)
    except orjson.JSONDecodeError:
        return "entry is not valid JSON"
    if not isinstance(obj, dict):
        return "entry is not a JSON object"
    if obj.get("index") != index:
        return f"row {index} holds the entry of index {obj.get('index')!r} (moved, inserted or swapped)"
    digest = obj.get("payload_digest")
    if payload is not None:
        if "sha256:" + hashlib.sha256(payload).hexdigest() != digest:
            return "payload changed after it was appended (digest differs)"
        return None
    if erased_by is None:
        return "payload is missing and no erase entry accounts for it"
    return _check_erasure(conn, index, erased_by)


def _check_erasure(conn: Connection, index: int, erased_by: int) -> str | None:
    rows = repo.entry_rows(conn, erased_by, erased_by + 1)
    if erased_by <= index or not rows:
        return f"payload erased by entry {erased_by}, which does not exist after it"
    try:
        eraser = orjson.loads(rows[0].entry)
    except orjson.JSONDecodeError:
        return f"payload erased by entry {erased_by}, which is not valid JSON"
    if (
        not isinstance(eraser, dict)
        or eraser.get("kind") != _ERASE_KIND
        or eraser.get("subject") != f"ledger/{index}"
    ):
        return f"payload erased by entry {erased_by}, which is not an erasure of this entry"
    return None


class _NodeStream:
    """Stored Merkle nodes in key (creation) order, compared as the tree is rebuilt."""

    def __init__(self, conn: Connection) -> None:
        self._chunks = repo.iter_node_rows(conn)
        self._rows: list[tuple[int, bytes]] = []
        self._pos = 0
        self.checked = 0

    def check(self, key: int, digest: bytes) -> bool:
        if self._pos >= len(self._rows):
            self._rows = next(self._chunks, [])
            self._pos = 0
        if self._pos >= len(self._rows):
            return False
        stored_key, stored = self._rows[self._pos]
        self._pos += 1
        self.checked += 1
        return stored_key == key and stored == digest
