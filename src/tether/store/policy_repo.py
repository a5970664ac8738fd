"""Repository of published policies (a projection of ``policy.published`` entries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import policies

__all__ = ["PolicyRow", "latest", "publish", "rows"]

# The version is the next integer, taken inside the appending transaction (which holds
# the ledger's write lock), so two publishers never get the same number.
_PUBLISH = (
    "INSERT INTO policies (version, name, sha256, source, mode, published_at, published_by, "
    "ledger_index) SELECT COALESCE(MAX(version), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM policies"
)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One publication."""

    version: int
    name: str
    sha256: str
    source: str
    mode: str
    published_at: float
    published_by: str
    ledger_index: int


def publish(name: str, sha256: str, source: str, mode: str, now: float, by: str) -> Mutation:
    """Record a publication (``mode``: enforced, shadow or shadow-cleared)."""
    return Mutation(
        (Statement(_PUBLISH, (name, sha256, source, mode, now, by, ENTRY_INDEX), expect_rows=1),)
    )


def _row(r: Any) -> PolicyRow:
    return PolicyRow(*(r[i] for i in range(8)))


_COLUMNS = (
    policies.c.version,
    policies.c.name,
    policies.c.sha256,
    policies.c.source,
    policies.c.mode,
    policies.c.published_at,
    policies.c.published_by,
    policies.c.ledger_index,
)


def latest(conn: Connection, modes: tuple[str, ...]) -> PolicyRow | None:
    """The newest publication whose mode is one of ``modes``."""
    stmt = (
        select(*_COLUMNS)
        .where(policies.c.mode.in_(modes))
        .order_by(policies.c.version.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return None if row is None else _row(row)


def rows(conn: Connection) -> list[PolicyRow]:
    """Every publication, oldest first."""
    return [_row(r) for r in conn.execute(select(*_COLUMNS).order_by(policies.c.version))]


def current_version(conn: Connection) -> int:
    """The newest version number (0 when nothing was published)."""
    stmt = select(policies.c.version).order_by(policies.c.version.desc()).limit(1)
    value = conn.execute(stmt).scalar()
    return 0 if value is None else int(value)
