"""Repository of the ledger aggregate: every SQL statement the ledger runs lives here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, make_url, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tether.store._raw import RawReader, connect_raw
from tether.store.tables import (
    ledger_checkpoints,
    ledger_entries,
    ledger_head,
    ledger_meta,
    ledger_nodes,
)

__all__ = [
    "CheckpointRow",
    "EntryRow",
    "Head",
    "checkpoint_rows",
    "create_head",
    "entry_rows",
    "erase_payload",
    "get_meta",
    "insert_batch",
    "insert_checkpoint",
    "iter_entry_rows",
    "leaf_hashes",
    "lock_head",
    "node_hashes",
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


def _driver_sql(conn: Connection, sql: str) -> str:
    """Adapt a qmark statement to the connection's driver (psycopg wants %s)."""
    return sql.replace("?", "%s") if conn.dialect.name == "postgresql" else sql


def _head(conn: Connection, *, for_update: bool) -> Head | None:
    # The hot path of every append: plain driver SQL skips SQLAlchemy's statement
    # compilation and cache-key work (about 60 us a statement).
    sql = _HEAD_SQL
    if for_update and conn.dialect.name == "postgresql":
        sql += " FOR UPDATE"
    row = conn.exec_driver_sql(sql).first()
    if row is None:
        return None
    return Head(int(row[0]), bytes(row[1]), bytes(row[2]), int(row[3]), float(row[4]))


def read_head(conn: Connection) -> Head | None:
    """Read the head row (None before init)."""
    return _head(conn, for_update=False)


def lock_head(conn: Connection) -> Head | None:
    """Read the head row and hold it locked until the transaction ends.

    On SQLite the write transaction already holds the database lock (BEGIN IMMEDIATE).
    """
    return _head(conn, for_update=True)


_INSERT_ENTRY = (
    "INSERT INTO ledger_entries (idx, entry, leaf, payload, erased_by) VALUES (?, ?, ?, ?, NULL)"
)
_INSERT_NODE = "INSERT INTO ledger_nodes (key, hash) VALUES (?, ?)"
_UPDATE_HEAD = (
    "UPDATE ledger_head SET size = ?, frontier = ?, root = ?, checkpoint_size = ?, "
    "checkpoint_at = ? WHERE id = 1"
)


def insert_batch(
    conn: Connection,
    entries: Sequence[tuple[int, bytes, bytes, bytes]],
    nodes: Sequence[tuple[int, bytes]],
    head: Head,
) -> None:
    """Write appended entries ``(idx, entry, leaf, payload)``, new nodes and the new head."""
    conn.exec_driver_sql(_driver_sql(conn, _INSERT_ENTRY), list(entries))
    if nodes:
        conn.exec_driver_sql(_driver_sql(conn, _INSERT_NODE), list(nodes))
    conn.exec_driver_sql(
        _driver_sql(conn, _UPDATE_HEAD),
        (head.size, head.frontier, head.root, head.checkpoint_size, head.checkpoint_at),
    )


def insert_checkpoint(conn: Connection, row: CheckpointRow) -> None:
    """Store a signed checkpoint; a second one for the same size is ignored."""
    values = {"size": row.size, "root": row.root, "note": row.note, "created_at": row.created_at}
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(ledger_checkpoints).values(values).on_conflict_do_nothing())
    else:
        conn.execute(sqlite_insert(ledger_checkpoints).values(values).on_conflict_do_nothing())


def erase_payload(conn: Connection, idx: int, erased_by: int) -> int:
    """Delete the payload of entry ``idx``; return the number of rows changed (0 or 1)."""
    result = conn.execute(
        update(ledger_entries)
        .where(ledger_entries.c.idx == idx, ledger_entries.c.payload.is_not(None))
        .values(payload=None, erased_by=erased_by)
    )
    return int(result.rowcount)


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


_STREAM_ENTRIES = (
    "SELECT idx, entry, leaf, payload, erased_by FROM ledger_entries "
    "WHERE idx > ? ORDER BY idx LIMIT ?"
)


def _stream(conn: Connection, sql: str, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
    # Verification reads every row: the DBAPI cursor hands back plain tuples of
    # bytes, without SQLAlchemy's per-row Result machinery (about 1 us a row).
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    sql = _driver_sql(conn, sql)
    after = -1
    try:
        while True:
            cursor.execute(sql, (after, chunk))
            rows: list[tuple[Any, ...]] = list(cursor.fetchall())
            if not rows:
                return
            yield rows
            after = rows[-1][0]
    finally:
        cursor.close()


def iter_entry_rows(conn: Connection, chunk: int = 20_000) -> Iterator[list[tuple[Any, ...]]]:
    """Yield every stored entry in index order, in chunks of raw tuples.

    Keyset pagination keeps memory bounded on both dialects; rows are
    ``(idx, entry, leaf, payload, erased_by)`` exactly as stored.
    """
    return _stream(conn, _STREAM_ENTRIES, chunk)


def leaf_hashes(conn: Connection, indices: Iterable[int]) -> dict[int, bytes]:
    """Return the stored leaf hashes of the given entries."""
    wanted = list(indices)
    if not wanted:
        return {}
    stmt = select(ledger_entries.c.idx, ledger_entries.c.leaf).where(
        ledger_entries.c.idx.in_(wanted)
    )
    return {int(i): bytes(h) for i, h in conn.execute(stmt)}


def node_hashes(conn: Connection, keys: Iterable[int]) -> dict[int, bytes]:
    """Return the stored node hashes for the given node keys."""
    wanted = list(keys)
    if not wanted:
        return {}
    stmt = select(ledger_nodes.c.key, ledger_nodes.c.hash).where(ledger_nodes.c.key.in_(wanted))
    return {int(k): bytes(h) for k, h in conn.execute(stmt)}


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


def update_head_checkpoint(size: int, at: float) -> Any:
    """Statement recording that the head was checkpointed at ``size``."""
    return (
        update(ledger_head)
        .where(ledger_head.c.id == _HEAD_ID)
        .values(checkpoint_size=size, checkpoint_at=at)
    )


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


__all__ += ["RawReader", "connect_raw", "max_index", "raw_reader", "raw_target"]
