"""Point reads on the decision hot path, through bare DBAPI connections.

The pipeline reads the breakers of every decision (a kill switch must stop the next
action in every process). Through SQLAlchemy a read costs ~50-100 µs (pool checkout,
BEGIN, Result); a bare ``sqlite3`` query costs a few. On SQLite every thread shares
one reading connection (under a lock); on PostgreSQL each thread keeps its own. An
in-memory SQLite database (one shared connection) goes through the engine instead.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine

from tether.store._raw import driver_sql

__all__ = ["HotReads"]


class HotReads:
    """Thread-local bare connections for small, frequent reads."""

    def __init__(self, engine: Engine, busy_timeout_ms: int) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"
        database = engine.url.database or ""
        self._memory = not self._pg and database in ("", ":memory:")
        self._path = database
        self._timeout = busy_timeout_ms / 1000
        self._local = threading.local()
        self._shared: Any = None
        self._sqlite_lock = threading.Lock()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run one qmark-style SELECT and return its rows (autocommit: latest data)."""
        if self._memory:
            with self._engine.connect() as shared:
                return [tuple(r) for r in shared.exec_driver_sql(sql, params)]
        if not self._pg:
            return self._sqlite(sql, params)
        conn: Any = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(driver_sql(sql, True), params)
                return list(cur.fetchall())
        except Exception:
            self._drop(conn)  # a broken connection is replaced on the next read
            raise

    def _sqlite(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        # One connection for every thread: SQLite's WAL has five read-mark slots, and
        # dozens of per-thread readers beside a busy writer retry (and sleep) for one.
        with self._sqlite_lock:
            if self._shared is None:
                self._shared = self._connect()
            try:
                rows: list[tuple[Any, ...]] = self._shared.execute(sql, params).fetchall()
            except Exception:
                self._drop(self._shared)
                self._shared = None
                raise
            return rows

    def _connect(self) -> Any:
        if self._pg:
            import psycopg

            url = self._engine.url.set(drivername="postgresql")
            conn: Any = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        else:
            conn = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA query_only = ON")
        if self._pg:
            self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _drop(self, conn: Any) -> None:
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with contextlib.suppress(Exception):
            conn.close()

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
