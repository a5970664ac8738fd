"""Open the store: create the engine, tune the dialect, apply migrations.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk when it
returns) and ``secure_delete`` (erased payloads are overwritten, not just unlinked).
Writers take the write lock up front (``BEGIN IMMEDIATE``) so two writers never
deadlock on a lock upgrade. PostgreSQL needs nothing special: writers serialise on
the row they lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from tether.errors import ConfigurationError, SchemaVersionError, StoreError
from tether.store._hot import HotReads

__all__ = ["Store", "open_store"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x7E7E_0001  # pg_advisory_xact_lock key for schema upgrades


@dataclass
class Store:
    """An open database: the engine plus what tether needs to know about its dialect."""

    engine: Engine
    url: URL
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    busy_timeout_ms: int = 60_000

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """Open a write transaction holding the database's write lock from its start."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(tether_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """Open a read transaction.

        SQLite reads always see one snapshot. On PostgreSQL, ``snapshot=True`` makes
        every statement see the same one (REPEATABLE READ), which a whole-log check
        needs; point reads of immutable rows (entries, nodes) skip that round trip.
        """
        with self.engine.connect() as conn, conn.begin():
            if snapshot and self.dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield conn

    @functools.cached_property
    def hot(self) -> HotReads:
        """Bare per-thread connections for point reads on the decision hot path."""
        return HotReads(self.engine, self.busy_timeout_ms)

    def close(self) -> None:
        """Dispose of the engine's connections."""
        if "hot" in self.__dict__:
            self.hot.close()
        self.engine.dispose()


def _sqlite_engine(url: URL, busy_timeout_ms: int, create: bool) -> Engine:
    database = url.database or ""
    if database and database != ":memory:":
        parent = Path(database).parent
        if not parent.is_dir():
            raise ConfigurationError(
                f"database folder {parent} does not exist; run 'tether init' or create it"
            )
        if not create and not Path(database).exists():
            raise StoreError(f"no database at {database}: run 'tether init' first")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        # In-memory: one shared connection, or every connection is a new empty database.
        poolclass=StaticPool if database in ("", ":memory:") else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("tether_begin", "BEGIN"))

    return engine


def _postgres_engine(url: URL) -> Engine:
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigurationError(
            f"PostgreSQL needs psycopg: pip install 'tether[postgres]' ({exc})"
        ) from exc


@functools.cache
def _script() -> tuple[str, frozenset[str]]:
    """The head revision and every revision this tether knows."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    return str(script.get_current_head()), frozenset(r.revision for r in script.walk_revisions())


def _current_revision(conn: Connection, store: Store) -> str | None:
    current = MigrationContext.configure(conn).get_current_revision()
    head, known = _script()
    if current is not None and current not in known:
        raise SchemaVersionError(
            f"database {store.url.render_as_string(hide_password=True)} has schema "
            f"revision {current!r}, newer than this tether knows (up to {head!r}); "
            "upgrade tether to open it"
        )
    return current


def upgrade(store: Store, *, create: bool = True) -> str:
    """Bring the schema to this version of tether; return the revision.

    A current schema is detected in a read transaction, so opening an up-to-date
    database takes no write lock. With ``create=False`` a database without a tether
    schema is refused instead of created.

    Raises:
        SchemaVersionError: the database was written by a newer tether.
        StoreError: ``create`` is False and the database holds no tether schema.
    """
    head, _known = _script()
    with store.read() as conn:
        current = _current_revision(conn, store)
    if current == head:
        return head
    if current is None and not create:
        raise StoreError(
            f"no tether database at {store.url.render_as_string(hide_password=True)}: "
            "run 'tether init' first"
        )
    with _file_lock(_sqlite_lock_path(store)), store.write() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        if _current_revision(conn, store) != head:
            cfg = Config()
            cfg.set_main_option("script_location", str(_MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    return head


def _sqlite_lock_path(store: Store) -> Path | None:
    database = store.url.database or ""
    if store.dialect != "sqlite" or database in ("", ":memory:"):
        return None
    return Path(database + ".migrate-lock")


@contextlib.contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_store(
    url: str, *, busy_timeout_ms: int = 60_000, migrate: bool = True, create: bool = True
) -> Store:
    """Open (and by default migrate) the database at ``url``.

    With ``create=False`` a missing SQLite file is an error instead of a new database.

    Example:
        >>> store = open_store("sqlite://")
        >>> store.dialect
        'sqlite'
        >>> store.close()

    Raises:
        ConfigurationError: the URL is malformed or names an unsupported database.
        StoreError: the database cannot be reached.
        SchemaVersionError: the database was written by a newer tether.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"TETHER_DATABASE_URL {url!r} is not a database URL") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(parsed, busy_timeout_ms, create)
    elif backend == "postgresql":
        engine = _postgres_engine(parsed)
    else:
        raise ConfigurationError(
            f"database {backend!r} is not supported; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB"
        )
    store = Store(engine=engine, url=parsed, busy_timeout_ms=busy_timeout_ms)
    if migrate:
        try:
            upgrade(store, create=create)
        except DBAPIError as exc:
            store.close()
            reason = " ".join(str(exc.orig).split())  # one line, whatever the driver says
            raise StoreError(
                f"cannot open database {parsed.render_as_string(hide_password=True)}: {reason}"
            ) from exc
        except BaseException:
            store.close()
            raise
    return store
