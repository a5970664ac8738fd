"""Repository of model versions, aliases and alias moves."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from tether.store._rows import row_dict
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import alias_moves, aliases, model_versions

__all__ = [
    "alias",
    "aliases_of",
    "move_alias",
    "moves",
    "next_version",
    "register",
    "version",
    "versions",
]


def register(system: str, version: int, digest: str, record: str, at: float) -> Mutation:
    """Insert an immutable version (fails on a taken number or a known artifact)."""
    sql = (
        "INSERT INTO model_versions (system, version, digest, record, registered_at, "
        "ledger_index) VALUES (?, ?, ?, ?, ?, ?)"
    )
    return Mutation(
        (Statement(sql, (system, version, digest, record, at, ENTRY_INDEX), expect_rows=1),),
        conflict=f"version {version} of {system} or its artifact was registered meanwhile",
    )


def move_alias(
    system: str, name: str, previous: int | None, version: int, kind: str, at: float
) -> Mutation:
    """Point ``name`` at ``version`` if it still points at ``previous`` (compare-and-set:
    an alias never points at zero or two versions), and log the move."""
    if previous is None:
        point = Statement(
            "INSERT INTO aliases (system, alias, version, moved_at, ledger_index) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (system, alias) DO NOTHING",
            (system, name, version, at, ENTRY_INDEX), expect_rows=1,
        )  # fmt: skip
    else:
        point = Statement(
            "UPDATE aliases SET version = ?, moved_at = ?, ledger_index = ? "
            "WHERE system = ? AND alias = ? AND version = ?",
            (version, at, ENTRY_INDEX, system, name, previous), expect_rows=1,
        )  # fmt: skip
    log = Statement(
        "INSERT INTO alias_moves (ledger_index, system, alias, previous, version, kind, "
        "moved_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ENTRY_INDEX, system, name, previous, version, kind, at),
    )
    return Mutation(
        (point, log), conflict=f"alias {name} of {system} moved meanwhile; reload and retry"
    )


def next_version(conn: Connection, system: str) -> int:
    """One more than the system's highest version (1 for the first)."""
    top = conn.execute(
        select(func.max(model_versions.c.version)).where(model_versions.c.system == system)
    ).scalar_one()
    return 1 if top is None else int(top) + 1


def version(
    conn: Connection, system: str, number: int | None = None, digest: str | None = None
) -> dict[str, Any] | None:
    """One version row, by number or by artifact digest."""
    stmt = select(model_versions).where(model_versions.c.system == system)
    if number is not None:
        stmt = stmt.where(model_versions.c.version == number)
    if digest is not None:
        stmt = stmt.where(model_versions.c.digest == digest)
    row = conn.execute(stmt).first()
    return None if row is None else row_dict(row)


def versions(conn: Connection, system: str) -> list[dict[str, Any]]:
    """Every version of a system, oldest first."""
    stmt = (
        select(model_versions)
        .where(model_versions.c.system == system)
        .order_by(model_versions.c.version)
    )
    return [row_dict(r) for r in conn.execute(stmt)]


def alias(conn: Connection, system: str, name: str) -> int | None:
    """The version an alias points at now."""
    stmt = select(aliases.c.version).where(aliases.c.system == system, aliases.c.alias == name)
    value = conn.execute(stmt).scalar_one_or_none()
    return None if value is None else int(value)


def moves(conn: Connection, system: str, name: str) -> list[dict[str, Any]]:
    """Every move of an alias, in ledger order."""
    stmt = (
        select(alias_moves)
        .where(alias_moves.c.system == system, alias_moves.c.alias == name)
        .order_by(alias_moves.c.ledger_index)
    )
    return [row_dict(r) for r in conn.execute(stmt)]


def aliases_of(conn: Connection, system: str) -> dict[str, int]:
    """Every alias of a system and the version it points at now, by alias name."""
    stmt = select(aliases.c.alias, aliases.c.version).where(aliases.c.system == system)
    return {str(r[0]): int(r[1]) for r in conn.execute(stmt.order_by(aliases.c.alias))}
