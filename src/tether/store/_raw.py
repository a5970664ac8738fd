"""Bulk reads through a bare DBAPI connection, importable without SQLAlchemy.

Verification reads every row and runs in worker processes; this module keeps their
start-up light (no SQLAlchemy, Alembic or pydantic import) and their per-row cost low
(plain tuples of bytes, no Result machinery: about 1 us a row saved).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

__all__ = ["RawReader", "connect_raw", "driver_sql"]


def driver_sql(sql: str, postgres: bool) -> str:
    """Adapt a qmark (``?``) statement to the driver: psycopg wants ``%s``."""
    return sql.replace("?", "%s") if postgres else sql


_RAW_ENTRIES = (
    "SELECT idx, entry, leaf, payload, erased_by FROM ledger_entries "
    "WHERE idx >= ? AND idx < ? ORDER BY idx"
)
_RAW_NODES = "SELECT key, hash FROM ledger_nodes WHERE key > ? AND key <= ? ORDER BY key"
_RAW_ENTRY = "SELECT entry FROM ledger_entries WHERE idx = ?"


class RawReader:
    """Bulk reads for verification through a bare DBAPI connection.

    Verification reads every row; the DBAPI cursor hands back plain tuples of bytes
    without SQLAlchemy's per-row Result machinery (about 1 us a row). A reader works
    inside an open SQLAlchemy transaction (``ledger_repo.raw_reader``) or on its own connection in a
    worker process (:func:`connect_raw`).
    """

    def __init__(self, dbapi_connection: Any, dialect: str) -> None:
        self._conn = dbapi_connection
        self._pg = dialect == "postgresql"

    def _sql(self, sql: str) -> str:
        return driver_sql(sql, self._pg)

    def entries(self, start: int, stop: int, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        """Yield rows ``(idx, entry, leaf, payload, erased_by)`` with start <= idx < stop."""
        cursor = self._conn.cursor()
        try:
            for lo in range(start, stop, chunk):
                cursor.execute(self._sql(_RAW_ENTRIES), (lo, min(lo + chunk, stop)))
                rows: list[tuple[Any, ...]] = (
                    [
                        (i, bytes(e), bytes(f), None if p is None else bytes(p), x)
                        for i, e, f, p, x in cursor.fetchall()
                    ]
                    if self._pg
                    else cursor.fetchall()
                )
                yield rows
                if len(rows) < min(chunk, stop - lo):
                    return
        finally:
            cursor.close()

    def nodes(self, key_above: int, key_upto: int) -> list[tuple[int, bytes]]:
        """Return stored nodes with ``key_above < key <= key_upto`` in key order."""
        cursor = self._conn.cursor()
        try:
            cursor.execute(self._sql(_RAW_NODES), (key_above, key_upto))
            return [(int(k), bytes(h)) for k, h in cursor.fetchall()]
        finally:
            cursor.close()

    def entry(self, idx: int) -> bytes | None:
        """Return the stored bytes of entry ``idx``, or None."""
        cursor = self._conn.cursor()
        try:
            cursor.execute(self._sql(_RAW_ENTRY), (idx,))
            row = cursor.fetchone()
            return None if row is None else bytes(row[0])
        finally:
            cursor.close()

    def close(self) -> None:
        """Close the underlying DBAPI connection."""
        self._conn.close()


def connect_raw(dialect: str, target: str) -> RawReader:
    """Open a read-only bare DBAPI connection (see ``ledger_repo.raw_target``)."""
    if dialect == "sqlite":
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        return RawReader(conn, "sqlite")
    import psycopg

    pg = psycopg.connect(target)
    pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    return RawReader(pg, "postgresql")
