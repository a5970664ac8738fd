"""open_store: migrations on open, dialect tuning, and every way opening can fail."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy.exc
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.pool import NullPool

import tether.store.engine
from tether.errors import ConfigurationError, SchemaVersionError, StoreError
from tether.store import open_store
from tether.store.engine import upgrade

TABLES = {
    "alembic_version",
    "ledger_meta",
    "ledger_head",
    "ledger_entries",
    "ledger_nodes",
    "ledger_checkpoints",
}
HEAD = ScriptDirectory(
    str(Path(tether.store.engine.__file__).with_name("migrations"))
).get_current_head()


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _versions(url: str) -> list[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def _set_version(url: str, version: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})
    finally:
        engine.dispose()


def test_head_is_known() -> None:
    assert HEAD is not None


def test_open_applies_migrations(database_url: str) -> None:
    store = open_store(database_url)
    try:
        assert store.dialect == make_url(database_url).get_backend_name()
        assert TABLES.issubset(_tables(database_url))
        assert _versions(database_url) == [HEAD]
    finally:
        store.close()


def test_reopen_is_idempotent(database_url: str) -> None:
    open_store(database_url).close()
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO ledger_meta (key, value) VALUES ('probe', 'kept')"))
    engine.dispose()

    for _ in range(2):
        store = open_store(database_url)
        try:
            assert upgrade(store) == HEAD
            with store.read() as conn:
                rows = conn.execute(text("SELECT key, value FROM ledger_meta")).all()
            assert [tuple(r) for r in rows] == [("probe", "kept")]
        finally:
            store.close()
    assert _versions(database_url) == [HEAD]
    assert TABLES.issubset(_tables(database_url))


def test_migrate_false_leaves_the_schema_alone(database_url: str) -> None:
    store = open_store(database_url, migrate=False)
    try:
        assert "alembic_version" not in _tables(database_url)
        assert upgrade(store) == HEAD
        assert _versions(database_url) == [HEAD]
    finally:
        store.close()


def test_newer_schema_is_refused(database_url: str) -> None:
    open_store(database_url).close()
    _set_version(database_url, "9999")

    with pytest.raises(SchemaVersionError, match=r"'9999'.*newer.*upgrade tether"):
        open_store(database_url)
    # nothing was "downgraded" or re-migrated
    assert _versions(database_url) == ["9999"]


def test_newer_schema_is_refused_by_upgrade_too(database_url: str) -> None:
    store = open_store(database_url)
    try:
        _set_version(database_url, "9999")
        with pytest.raises(SchemaVersionError, match="9999"):
            upgrade(store)
    finally:
        store.close()


def test_in_memory_sqlite_opens() -> None:
    store = open_store("sqlite://")
    try:
        with store.read() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version == HEAD
    finally:
        store.close()


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}", busy_timeout_ms=1234)
    try:
        with store.read() as conn:

            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()

            assert str(pragma("journal_mode")).lower() == "wal"
            assert pragma("synchronous") == 2  # FULL
            assert pragma("secure_delete") == 1
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 1234
    finally:
        store.close()


def test_sqlite_write_takes_the_lock_up_front(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    store = open_store(url, busy_timeout_ms=0)
    other = open_store(url, busy_timeout_ms=0)
    try:
        with (
            store.write(),
            pytest.raises(sqlalchemy.exc.OperationalError, match="locked"),
            other.write(),
        ):
            pass
    finally:
        other.close()
        store.close()


_OPENER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tether.store import open_store

    url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    ready.touch()
    deadline = time.monotonic() + 30
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for the start signal")
        time.sleep(0.001)
    store = open_store(url)
    with store.read() as conn:
        print(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one())
    store.close()
    """
)


def test_concurrent_open_of_a_fresh_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    url = f"sqlite:///{db}"
    go = tmp_path / "go"
    procs = []
    for n in range(4):
        ready = tmp_path / f"ready-{n}"
        procs.append(
            (
                ready,
                subprocess.Popen(
                    [sys.executable, "-c", _OPENER, url, str(ready), str(go)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    deadline = time.monotonic() + 30
    while not all(ready.exists() for ready, _ in procs):
        assert time.monotonic() < deadline, "openers did not start"
        assert all(p.poll() is None for _, p in procs), [p.communicate() for _, p in procs]
        time.sleep(0.005)
    go.touch()
    for _, proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.strip() == HEAD
    assert _versions(url) == [HEAD]
    assert TABLES.issubset(_tables(url))


def test_unsupported_scheme_names_the_fix() -> None:
    with pytest.raises(ConfigurationError, match=r"'mysql' is not supported.*sqlite:///") as info:
        open_store("mysql://x")
    assert "postgresql+psycopg://" in str(info.value)


@pytest.mark.parametrize("url", ["not a url", "://", "sqlite//missing-colon"])
def test_garbage_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not a database URL"):
        open_store(url)


def test_sqlite_in_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_store(f"sqlite:///{missing / 'x.db'}")
    assert not missing.exists()


def test_create_false_on_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no database at .*tether init"):
        open_store(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert list(tmp_path.iterdir()) == []


def test_create_false_on_an_existing_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'there.db'}"
    open_store(url).close()
    store = open_store(url, create=False)
    try:
        assert store.dialect == "sqlite"
    finally:
        store.close()


def test_unreachable_postgres_is_a_store_error() -> None:
    url = "postgresql+psycopg://postgres:secret@127.0.0.1:1/nothing?connect_timeout=5"
    with pytest.raises(StoreError, match="cannot open database") as info:
        open_store(url)
    assert not isinstance(info.value, sqlalchemy.exc.SQLAlchemyError)
    assert "secret" not in str(info.value)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"this is not a SQLite database, just some text\n" * 100)
    with pytest.raises(StoreError, match="not a database") as info:
        open_store(f"sqlite:///{db}", create=False)
    assert not isinstance(info.value, sqlalchemy.exc.SQLAlchemyError)
