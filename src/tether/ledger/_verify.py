"""Verify the whole ledger from its stored rows, streaming, in bounded memory.

For every index, in order: the row is there (no gap), the entry names its own
index (nothing moved, inserted or swapped), its bytes still hash to the leaf
recorded at append time, its payload still hashes to the digest inside it (or was
erased by an erase entry that names it). The tree is rebuilt on the way and every
stored Merkle node, every stored checkpoint, the head and a caller's checkpoint are
compared with it. The report names the first bad index and what is wrong.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection

from tether.errors import ProofError, SignatureError, StoreError
from tether.ledger._merkle import NODE_STRIDE, CompactRange, fold_right, node_key
from tether.ledger._note import Checkpoint, Verifier
from tether.ledger._segment import (
    SEGMENT_LEVEL,
    SegmentResult,
    check_segment,
    read_frame,
    write_frame,
)
from tether.store import Store
from tether.store import ledger_repo as repo

__all__ = ["Problem", "VerifyReport", "verify_ledger"]


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
    workers: int | None = None,
    segment_level: int = SEGMENT_LEVEL,
) -> VerifyReport:
    """Recompute the log from its rows and compare it with everything that vouches for it.

    ``extra`` is a checkpoint the caller kept (parse it with :meth:`Checkpoint.open`,
    which checks its signature). ``progress(done, total)`` is called per segment.
    The log is checked in aligned segments of ``2**segment_level`` entries; with
    ``workers`` > 1 (default: one per CPU, up to 4, once the log spans 4 segments)
    worker processes check segments in parallel, each on its own connection.

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.ledger.append("decision", "bot", {"verdict": "allow"})
        >>> verify_ledger(t.store, t.ledger.verifier).ok
        True
        >>> t.close()
    """
    report = VerifyReport()
    with store.read(snapshot=True) as conn:
        head = repo.read_head(conn)
        head_size = head.size if head is not None else 0
        report.size = head_size
        expected = _checkpoints(conn, verifier, report)
        if extra is not None:
            expected.setdefault(extra.size, []).append((extra.root, "the checkpoint you gave"))
        rows_end = repo.max_index(conn) + 1
        stop = head_size if head is not None else rows_end
        width = 1 << segment_level
        plan = [
            (start, min(start + width, stop), [s for s in expected if start < s <= start + width])
            for start in range(0, max(stop, 1), width)
        ]
        count = _worker_count(workers, len(plan), store)
        if count > 1:
            target = repo.raw_target(store.url.render_as_string(hide_password=False))
            segments = _parallel(target, plan, segment_level, count)
        else:
            reader = repo.raw_reader(conn)
            segments = (check_segment(reader, *p, segment_level) for p in plan)
        try:
            tree = _walk(conn, report, expected, segments, segment_level, stop, progress)
        finally:
            segments.close()
    total = tree.size
    if head is None:
        report.problems.append(Problem(None, "the ledger has no head row (not initialised)"))
    elif report.ok and rows_end > head.size:
        report.problems.append(
            Problem(
                head.size,
                f"rows {head.size}..{rows_end - 1} lie beyond the head's {head.size} "
                "entries: inserted after the fact, or the head was rolled back",
            )
        )
    elif report.ok and tree.root() != head.root:
        report.problems.append(_head_mismatch(tree, head))
    for size in sorted(s for s in expected if s > total and report.ok):
        for _root, what in expected[size]:
            report.problems.append(
                Problem(total, f"{what} covers {size} entries but only {total} exist: truncated")
            )
    return report


def _head_mismatch(tree: CompactRange, head: repo.Head) -> Problem:
    """Localise a head/rows disagreement to the first differing frontier subtree."""
    try:
        recorded = CompactRange.from_bytes(head.size, head.frontier).hashes
    except ProofError:
        return Problem(None, "the head's frontier is corrupt")
    start = part = 0
    for level in range(head.size.bit_length() - 1, -1, -1):
        if not head.size >> level & 1:
            continue
        if tree.hashes[part] != recorded[part]:
            return Problem(
                start,
                f"entries {start}..{start + (1 << level) - 1} differ from the tree head "
                "recorded at the last append",
            )
        start += 1 << level
        part += 1
    return Problem(None, "the head's root differs from the root rebuilt from the rows")


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


def _worker_count(workers: int | None, segments: int, store: Store) -> int:
    if store.dialect == "sqlite" and (store.url.database or ":memory:") == ":memory:":
        return 1
    if workers is None:
        return min(os.cpu_count() or 1, 4) if segments >= 4 else 1
    return max(1, min(workers, segments))


def _parallel(
    target: tuple[str, str], plan: list[tuple[int, int, list[int]]], level: int, count: int
) -> Generator[SegmentResult, None, None]:
    """Check segments in ``count`` worker processes; yield the results in order."""
    # The workers must import this very tether, installed or not.
    here = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tether.ledger._segment", *target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        for _ in range(count)
    ]
    try:
        # Worker w takes segments w, w + count, ...; each has up to two queued.
        sent = 0
        for position in range(len(plan)):
            while sent < len(plan) and sent < position + 2 * count:
                pipe = workers[sent % count].stdin
                assert pipe is not None
                write_frame(pipe, (*plan[sent], level))
                sent += 1
            out = workers[position % count].stdout
            assert out is not None
            result = read_frame(out)
            if not isinstance(result, SegmentResult):
                raise StoreError(
                    f"verification worker {position % count} died; rerun with workers=1"
                )
            yield result
    finally:
        for worker in workers:
            if worker.stdin is not None:
                worker.stdin.close()
            worker.kill() if worker.poll() is None and sent < len(plan) else None
            worker.wait()
            if worker.stdout is not None:
                worker.stdout.close()


def _walk(
    conn: Connection,
    report: VerifyReport,
    expected: dict[int, list[tuple[bytes, str]]],
    segments: Iterator[SegmentResult],
    segment_level: int,
    stop: int,
    progress: Callable[[int, int], None] | None,
) -> CompactRange:
    """Take segment results in order, fold their roots, compare checkpoint roots."""
    width = 1 << segment_level
    upper = CompactRange()  # over whole segments' roots: nodes above the segment level
    upper_nodes: dict[int, tuple[bytes, int, int]] = {}
    good_until = 0  # every checkpoint up to here matched
    for seg in segments:
        start = seg.start
        report.nodes_checked += seg.nodes_checked
        found: list[Problem] = []
        for size in sorted(seg.checkpoint_frontiers):
            root = fold_right(upper.hashes + seg.checkpoint_frontiers[size])
            wrong = [what for want, what in expected[size] if want != root]
            if wrong:
                found.append(
                    Problem(
                        good_until,
                        f"the log differs from {wrong[0]}: an entry in "
                        f"{good_until}..{size - 1} was rewritten",
                    )
                )
                break
            good_until = size
        if seg.problem is not None:
            # A problem the segment pinned down explains a checkpoint mismatch after it.
            found = [p for p in found if p.index is not None and p.index > seg.problem[0]]
            found.append(Problem(*seg.problem))
        report.entries_checked = start + seg.good
        if progress is not None:
            progress(start + seg.good, stop)
        if found or seg.good < width:
            if seg.good == width:
                tree = upper.copy()
                tree.append(seg.frontier[0])
                tree = CompactRange(tree.size * width, tree.hashes)
            else:
                tree = CompactRange(start + seg.good, upper.hashes + seg.frontier)
            if found:
                report.problems.append(min(found, key=lambda p: p.index or 0))
            else:
                _check_upper_nodes(conn, upper_nodes, report)
            return tree
        for level, index, digest in upper.append(seg.frontier[0]):
            if not (level + segment_level) % NODE_STRIDE:
                upper_nodes[node_key(level + segment_level, index)] = (
                    digest,
                    level + segment_level,
                    index,
                )
    tree = CompactRange(upper.size * width, upper.hashes)
    _check_upper_nodes(conn, upper_nodes, report)
    return tree


def _check_upper_nodes(
    conn: Connection, nodes: dict[int, tuple[bytes, int, int]], report: VerifyReport
) -> None:
    stored = repo.node_hashes(conn, nodes)
    report.nodes_checked += len(nodes)
    for key in sorted(nodes):
        digest, level, index = nodes[key]
        if stored.get(key) != digest:
            first = index << level
            report.problems.append(
                Problem(
                    first,
                    f"entries {first}..{first + (1 << level) - 1} differ from the Merkle "
                    "node recorded when they were appended",
                )
            )
            return
