"""Repository of the ledger aggregate: every SQL statement the ledger runs lives here."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, make_url, select

from tether.errors import InvalidInput, StoreError
from tether.store._raw import RawReader, connect_raw, driver_sql
from tether.store.tables import (
    ledger_checkpoints,
    ledger_entries,
    ledger_head,
    ledger_meta,
)

__all__ = [
    "ENTRY_INDEX",
    "AppendTransaction",
    "Appender",
    "CheckpointRow",
    "EntryRow",
    "Head",
    "Mutation",
    "RawReader",
    "Statement",
    "checkpoint_rows",
    "connect_raw",
    "create_head",
    "entry_rows",
    "get_meta",
    "iter_entry_rows",
    "leaf_hashes",
    "max_index",
    "node_hashes",
    "raw_reader",
    "raw_target",
    "read_head",
    "set_meta",
]

_HEAD_ID = 1


@dataclass(frozen=True, slots=True)
class Head:
    """The tree head row."""

    size: int
    frontier: bytes
    root: bytes
    checkpoint_size: int
    checkpoint_at: float


@dataclass(frozen=True, slots=True)
class EntryRow:
    """One stored entry as the database has it (nothing verified)."""

    idx: int
    entry: bytes
    leaf: bytes
    payload: bytes | None
    erased_by: int | None


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """One stored checkpoint (nothing verified)."""

    size: int
    root: bytes
    note: str
    created_at: float


def get_meta(conn: Connection) -> dict[str, str]:
    """Return the ledger's metadata (origin, verifier key, ...)."""
    rows = conn.execute(select(ledger_meta.c.key, ledger_meta.c.value))
    return {str(k): str(v) for k, v in rows}


def set_meta(conn: Connection, values: Mapping[str, str]) -> None:
    """Insert metadata keys (they are written once, at init)."""
    conn.execute(insert(ledger_meta), [{"key": k, "value": v} for k, v in values.items()])


def create_head(conn: Connection, empty_root: bytes, now: float) -> None:
    """Create the head row of an empty tree."""
    conn.execute(
        insert(ledger_head).values(
            id=_HEAD_ID,
            size=0,
            frontier=b"",
            root=empty_root,
            checkpoint_size=0,
            checkpoint_at=now,
        )
    )


_HEAD_SQL = (
    "SELECT size, frontier, root, checkpoint_size, checkpoint_at FROM ledger_head WHERE id = 1"
)


def _head(row: Any) -> Head | None:
    if row is None:
        return None
    return Head(int(row[0]), bytes(row[1]), bytes(row[2]), int(row[3]), float(row[4]))


def read_head(conn: Connection) -> Head | None:
    """Read the head row (None before init)."""
    return _head(conn.exec_driver_sql(_HEAD_SQL).first())


_INSERT_ENTRY = (
    "INSERT INTO ledger_entries (idx, entry, leaf, payload, erased_by) VALUES (?, ?, ?, ?, NULL)"
)
_INSERT_NODE = "INSERT INTO ledger_nodes (key, hash) VALUES (?, ?)"
_UPDATE_HEAD = (
    "UPDATE ledger_head SET size = ?, frontier = ?, root = ?, checkpoint_size = ?, "
    "checkpoint_at = ? WHERE id = 1"
)
_INSERT_CHECKPOINT = (
    "INSERT INTO ledger_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (size) DO NOTHING"
)
_ERASE = (
    "UPDATE ledger_entries SET payload = NULL, erased_by = ? WHERE idx = ? AND payload IS NOT NULL"
)


class _EntryIndex:
    """Placeholder for the index the entry being appended gets."""

    def __repr__(self) -> str:
        return "ENTRY_INDEX"


ENTRY_INDEX: Any = _EntryIndex()


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement (qmark style) of a :class:`Mutation`.

    ``expect_rows``: the statement must change exactly this many rows, or the whole
    mutation is undone and its entry not appended (a compare-and-set).
    """

    sql: str
    params: tuple[Any, ...] = ()
    expect_rows: int | None = None

    def __post_init__(self) -> None:
        # Refused here, in the caller's thread, not in the writer: PostgreSQL cannot
        # store a NUL in text, and a failing statement would fail its whole group commit.
        for p in self.params:
            if type(p) is str and "\x00" in p:
                raise InvalidInput(
                    f"text {p[:40]!r} contains a NUL character (\\x00): remove it "
                    "(tether stores no NUL in text, on any database)"
                )


@dataclass(frozen=True, slots=True)
class Mutation:
    """Projection rows written in the same transaction as a ledger entry.

    Either the entry and every statement commit together, or nothing does: the
    tables that mirror the ledger (approvals, breakers, inventory) never disagree
    with it. ``conflict`` is the message when an ``expect_rows`` check fails.
    """

    statements: tuple[Statement, ...]
    conflict: str = "the state changed concurrently; reload and retry"
    batched: bool = False
    """Rows that cannot conflict (``INSERT ... ON CONFLICT DO NOTHING``, no checks):
    the writer inserts all of a batch's with one ``executemany``."""


class AppendTransaction:
    """The statements of one appending transaction, on a bare DBAPI cursor."""

    def __init__(self, cursor: Any, postgres: bool, pipeline: Any = None) -> None:
        self._cur = cursor
        self._pg = postgres
        self._pipeline = pipeline

    def _sql(self, sql: str) -> str:
        return driver_sql(sql, self._pg)

    def lock_head(self) -> Head:
        """Read the head and hold it locked (SQLite: BEGIN IMMEDIATE already does).

        Raises:
            StoreError: there is no head row (the ledger was never initialised).
        """
        self._cur.execute(_HEAD_SQL + (" FOR UPDATE" if self._pg else ""))
        head = _head(self._cur.fetchone())
        if head is None:
            raise StoreError("ledger is not initialised: run 'tether init'")
        return head

    def insert(
        self,
        entries: Sequence[tuple[int, bytes, bytes, bytes]],
        nodes: Sequence[tuple[int, bytes]],
        head: Head,
    ) -> None:
        """Write entries ``(idx, entry, leaf, payload)``, new nodes and the new head."""
        # On PostgreSQL the three statements go in one pipeline: one round trip.
        with self._pipeline() if self._pipeline else contextlib.nullcontext():
            self._cur.executemany(self._sql(_INSERT_ENTRY), entries)
            if nodes:
                self._cur.executemany(self._sql(_INSERT_NODE), nodes)
            self.update_head(head)

    def update_head(self, head: Head) -> None:
        """Rewrite the head row."""
        self._cur.execute(
            self._sql(_UPDATE_HEAD),
            (head.size, head.frontier, head.root, head.checkpoint_size, head.checkpoint_at),
        )

    def insert_checkpoint(self, row: CheckpointRow) -> None:
        """Store a signed checkpoint; a second one for the same size is ignored."""
        self._cur.execute(
            self._sql(_INSERT_CHECKPOINT), (row.size, row.root, row.note, row.created_at)
        )

    def apply(self, mutation: Mutation, index: int) -> str | None:
        """Run ``mutation`` for the entry at ``index``; return why it failed (undone)."""
        cur = self._cur
        statements = mutation.statements
        if not self._pg and len(statements) == 1 and statements[0].sql.startswith("INSERT"):
            # SQLite: one INSERT (or upsert) of one row succeeds or fails whole without
            # aborting the transaction, so it needs no savepoint (PostgreSQL aborts).
            st = statements[0]
            params = tuple(index if p is ENTRY_INDEX else p for p in st.params)
            try:
                cur.execute(st.sql, params)
            except Exception as exc:
                if not _is_integrity_error(exc):
                    raise
                return f"{mutation.conflict} ({' '.join(str(exc).split())})"
            if st.expect_rows is not None and cur.rowcount != st.expect_rows:
                return mutation.conflict
            return None
        cur.execute("SAVEPOINT tether_mutation")
        try:
            for st in mutation.statements:
                params = tuple(index if p is ENTRY_INDEX else p for p in st.params)
                cur.execute(self._sql(st.sql), params)
                if st.expect_rows is not None and cur.rowcount != st.expect_rows:
                    cur.execute("ROLLBACK TO SAVEPOINT tether_mutation")
                    cur.execute("RELEASE SAVEPOINT tether_mutation")
                    return mutation.conflict
        except Exception as exc:
            if not _is_integrity_error(exc):
                raise
            cur.execute("ROLLBACK TO SAVEPOINT tether_mutation")
            cur.execute("RELEASE SAVEPOINT tether_mutation")
            return f"{mutation.conflict} ({' '.join(str(exc).split())})"
        cur.execute("RELEASE SAVEPOINT tether_mutation")
        return None

    def insert_rows(self, rows: Mapping[str, list[tuple[Any, ...]]]) -> None:
        """Insert batched mutation rows, one ``executemany`` per statement."""
        for sql, params in rows.items():
            self._cur.executemany(self._sql(sql), params)

    def erase(self, idx: int, erased_by: int) -> int:
        """Delete the payload of entry ``idx``; return the rows changed (0 or 1)."""
        self._cur.execute(self._sql(_ERASE), (erased_by, idx))
        return int(self._cur.rowcount)


def _is_integrity_error(exc: Exception) -> bool:
    # sqlite3.IntegrityError and psycopg.errors.IntegrityError, without importing psycopg
    return any(cls.__name__ == "IntegrityError" for cls in type(exc).__mro__)


class Appender:
    """A dedicated write connection for ledger appends.

    Group commit runs one transaction at a time, so one connection serves every
    append: no pool checkout, no SQLAlchemy statement machinery (several hundred
    microseconds a batch). A failed transaction drops the connection; the next one
    opens a fresh connection.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"
        self._conn: Any = None
        self._cursor: Any = None  # reused: one writer at a time
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[AppendTransaction]:
        """Run one write transaction holding the database's write lock from its start."""
        with self._lock:
            if self._conn is None:
                self._conn = self._engine.raw_connection()
                self._cursor = self._conn.cursor()
            conn, cursor = self._conn, self._cursor
            try:
                if self._pg:
                    yield AppendTransaction(cursor, True, conn.driver_connection.pipeline)
                else:
                    cursor.execute("BEGIN IMMEDIATE")
                    yield AppendTransaction(cursor, False)
                conn.commit()
            except BaseException:
                self._discard()
                raise

    def _discard(self) -> None:
        conn, self._conn, self._cursor = self._conn, None, None
        with contextlib.suppress(Exception):
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.invalidate()

    def close(self) -> None:
        """Return the connection."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._cursor.close()
                self._conn.close()
                self._conn = self._cursor = None


_ENTRY_COLUMNS = (
    ledger_entries.c.idx,
    ledger_entries.c.entry,
    ledger_entries.c.leaf,
    ledger_entries.c.payload,
    ledger_entries.c.erased_by,
)


def _entry_row(row: Any) -> EntryRow:
    payload = row[3]
    return EntryRow(
        int(row[0]),
        bytes(row[1]),
        bytes(row[2]),
        None if payload is None else bytes(payload),
        None if row[4] is None else int(row[4]),
    )


def entry_rows(
    conn: Connection, start: int, stop: int, *, descending: bool = False
) -> list[EntryRow]:
    """Return stored entries with ``start <= idx < stop`` in index order."""
    order = ledger_entries.c.idx.desc() if descending else ledger_entries.c.idx
    stmt = (
        select(*_ENTRY_COLUMNS)
        .where(ledger_entries.c.idx >= start, ledger_entries.c.idx < stop)
        .order_by(order)
    )
    return [_entry_row(r) for r in conn.execute(stmt)]


def iter_entry_rows(conn: Connection, chunk: int = 20_000) -> Iterator[list[tuple[Any, ...]]]:
    """Yield every stored entry in index order, in chunks of raw tuples.

    Rows are ``(idx, entry, leaf, payload, erased_by)`` exactly as stored; memory
    stays bounded by the chunk on both dialects.
    """
    return raw_reader(conn).entries(0, max_index(conn) + 1, chunk)


def _lookup(conn: Connection, sql: str, wanted: list[int]) -> dict[int, bytes]:
    # Proofs look up a few dozen keys: a literal IN list through the driver skips
    # SQLAlchemy's expanding-parameter compilation (the bulk of a proof's cost).
    if not wanted:
        return {}
    marks = driver_sql(", ".join("?" * len(wanted)), conn.dialect.name == "postgresql")
    rows = conn.exec_driver_sql(sql.format(marks), tuple(wanted)).all()
    return {int(k): bytes(h) for k, h in rows}


def leaf_hashes(conn: Connection, indices: Iterable[int]) -> dict[int, bytes]:
    """Return the stored leaf hashes of the given entries."""
    sql = "SELECT idx, leaf FROM ledger_entries WHERE idx IN ({})"
    return _lookup(conn, sql, list(indices))


def node_hashes(conn: Connection, keys: Iterable[int]) -> dict[int, bytes]:
    """Return the stored node hashes for the given node keys."""
    return _lookup(conn, "SELECT key, hash FROM ledger_nodes WHERE key IN ({})", list(keys))


def checkpoint_rows(
    conn: Connection, *, min_size: int = 0, latest: bool = False
) -> list[CheckpointRow]:
    """Return stored checkpoints in size order (only the largest with ``latest``)."""
    stmt = select(
        ledger_checkpoints.c.size,
        ledger_checkpoints.c.root,
        ledger_checkpoints.c.note,
        ledger_checkpoints.c.created_at,
    ).where(ledger_checkpoints.c.size >= min_size)
    if latest:
        stmt = stmt.order_by(ledger_checkpoints.c.size.desc()).limit(1)
    else:
        stmt = stmt.order_by(ledger_checkpoints.c.size)
    return [CheckpointRow(int(s), bytes(r), str(n), float(c)) for s, r, n, c in conn.execute(stmt)]


def max_index(conn: Connection) -> int:
    """Return the largest stored entry index, or -1 when there is none."""
    value = conn.execute(select(func.max(ledger_entries.c.idx))).scalar_one()
    return -1 if value is None else int(value)


def raw_reader(conn: Connection) -> RawReader:
    """A bulk reader sharing ``conn``'s DBAPI connection (and so its transaction)."""
    return RawReader(conn.connection.dbapi_connection, conn.dialect.name)


def raw_target(url: str) -> tuple[str, str]:
    """Return ``(dialect, target)`` for :func:`connect_raw` in a worker process."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return "sqlite", str(parsed.database)
    return "postgresql", parsed.set(drivername="postgresql").render_as_string(hide_password=False)
