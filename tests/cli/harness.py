"""Shared harness of the CLI tests: run ``tether`` in-process and look at what it wrote.

The fixtures built on it (``cli``, the environment cleaning, the engine disposal) live in
``conftest.py`` next to this module; tests import the helpers with ``from .harness import ...``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, Engine, create_engine, inspect, make_url, text
from sqlalchemy.pool import NullPool

from tether import Settings
from tether.cli import main
from tether.ledger import Verifier, load_verifier

# -- running the CLI ------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


@dataclass
class Cli:
    settings: Settings
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def url(self) -> str:
        return self.settings.database_url

    @property
    def public_key(self) -> Path:
        return self.settings.public_key_path

    @property
    def signing_key(self) -> Path:
        return self.settings.signing_key_path

    def bare(self, *args: str, stdin: bytes = b"") -> Result:
        """Run ``tether ARGS`` with ``stdin`` piped in; return exit code and output."""
        self.monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            main(list(args))
        out, err = self.capsys.readouterr()
        code = info.value.code
        return Result(code if isinstance(code, int) else 1, out, err)

    def __call__(self, *args: str, stdin: bytes = b"") -> Result:
        """Run ``tether --home HOME --database-url URL ARGS``."""
        return self.bare("--home", str(self.home), "--database-url", self.url, *args, stdin=stdin)

    def ok(self, *args: str, stdin: bytes = b"") -> str:
        result = self(*args, stdin=stdin)
        assert result.code == 0, result
        return result.out

    def append(self, payload: Any, kind: str = "decision", actor: str = "svc:test") -> int:
        out = self.ok("ledger", "append", "--kind", kind, "--actor", actor, stdin=_json(payload))
        return int(out.strip())

    def verifier(self) -> Verifier:
        return load_verifier(self.public_key)


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def expect_error(result: Result, *needles: str) -> str:
    """Assert one clear ``error:`` line naming every needle, nothing on stdout, exit != 0."""
    assert result.code != 0, result
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in line, (needle, line)
    assert result.out == "", result.out
    return line


# -- the database, seen from outside tether -------------------------------------------------


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path:
    return Path(make_url(url).database or "")


_PG_ENGINES: dict[str, Engine] = {}


@contextmanager
def connect(url: str, *, write: bool = False) -> Iterator[Connection]:
    """A connection outside tether's own (SQLite: none kept open, so no -wal file lingers)."""
    if is_sqlite(url):
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() if write else engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()
        return
    engine = _PG_ENGINES.get(url)
    if engine is None:
        engine = _PG_ENGINES[url] = create_engine(url, pool_size=1)
    with engine.begin() if write else engine.connect() as conn:
        yield conn


def dispose_engines() -> None:
    """Close the PostgreSQL engines ``connect`` kept open (the conftest does, after each test)."""
    while _PG_ENGINES:
        _PG_ENGINES.popitem()[1].dispose()


def db_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table; a SQLite file that does not exist is not created."""
    if is_sqlite(url) and not sqlite_file(url).exists():
        return {}
    with connect(url) as conn:
        return {
            name: sorted(
                (tuple(r) for r in conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr
            )
            for name in sorted(inspect(conn).get_table_names())
        }


def ledger_size(url: str) -> int:
    with connect(url) as conn:
        return int(conn.execute(text("SELECT size FROM ledger_head")).scalar_one())


def drop_everything(url: str) -> None:
    """Delete the SQLite file (and its -wal/-shm) or drop every PostgreSQL table."""
    if is_sqlite(url):
        db = sqlite_file(url)
        for path in db.parent.glob(db.name + "*"):
            path.unlink()
        return
    with connect(url, write=True) as conn:
        for name in inspect(conn).get_table_names():
            conn.execute(text(f'DROP TABLE "{name}" CASCADE'))


# -- nothing written ------------------------------------------------------------------------


def snapshot(root: Path, url: str) -> tuple[dict[str, bytes | None], dict[str, Any]]:
    """Every path under ``root`` with its bytes, then every database row."""
    files = {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }
    return files, db_tables(url)


@contextmanager
def writes_nothing(root: Path, url: str, *, same_size: bool = False) -> Iterator[None]:
    """Assert the block changes no file or folder under ``root`` and no database row.

    With ``same_size`` (the database must hold a ledger), also that the ledger size is unchanged.
    """
    size = ledger_size(url) if same_size else None
    files, rows = snapshot(root, url)
    yield
    if same_size:
        assert ledger_size(url) == size
    after_files, after_rows = snapshot(root, url)
    assert after_files == files, "files under the test folder changed"
    assert after_rows == rows, "database rows changed"
