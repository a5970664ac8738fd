"""Shared fixtures: every store-backed test runs on SQLite and, when
TETHER_TEST_POSTGRES_URL is set, on PostgreSQL too (one fresh schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from tether import Settings, Tether
from tether.testing import FrozenClock

PG_ENV = "TETHER_TEST_POSTGRES_URL"
PG_URL = os.environ.get(PG_ENV, "")
SKIP_PG = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"


def pg_schema_url(schema: str) -> str:
    """URL of PG_URL whose connections use ``schema`` as search path."""
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each dialect."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tether.db'}"
        return
    if not PG_URL:
        pytest.skip(SKIP_PG)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a fresh home on the parametrised database."""
    return Settings(home=tmp_path / "home", database_url=database_url)


@pytest.fixture
def clock() -> FrozenClock:
    """A frozen clock at 2026-01-01."""
    return FrozenClock()


@pytest.fixture
def make_tether(settings: Settings, clock: FrozenClock) -> Iterator[Callable[..., Tether]]:
    """Open tethers on the test database; all are closed at the end."""
    opened: list[Tether] = []

    def make(**overrides: Any) -> Tether:
        s = Settings(**{**settings.model_dump(), **overrides})
        t = Tether.init(s, clock=clock)
        opened.append(t)
        return t

    yield make
    for t in opened:
        t.close()


@pytest.fixture
def tether(make_tether: Callable[..., Tether]) -> Tether:
    """An initialised tether on the parametrised database."""
    return make_tether()
