"""Repository of gate-set versions and gate results (projections of ``gates.set`` and
``gates.evaluated`` ledger entries)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from tether.store._rows import row_dict
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import gate_results, gate_sets

__all__ = ["current", "gate_set", "gate_sets_of", "put_result", "put_set", "result", "results"]

_RESULT = (
    "INSERT INTO gate_results (system, version, gate_version, passed, report, evaluated_at, "
    "ledger_index) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (system, version, gate_version) "
    "DO UPDATE SET passed = excluded.passed, report = excluded.report, "
    "evaluated_at = excluded.evaluated_at, ledger_index = excluded.ledger_index"
)


def put_set(
    system: str, version: int, digest: str, spec: str, actor: str, reason: str, at: float
) -> Mutation:
    """Insert gate-set version ``version`` (fails if another writer took the number)."""
    sql = (
        "INSERT INTO gate_sets (system, version, digest, spec, actor, reason, set_at, "
        "ledger_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    params = (system, version, digest, spec, actor, reason, at, ENTRY_INDEX)
    return Mutation(
        (Statement(sql, params, expect_rows=1),),
        conflict=f"gate set version {version} of {system} was taken meanwhile; reload and retry",
    )


def put_result(
    system: str, version: int, gate_version: int, passed: bool, report: str, at: float
) -> Mutation:
    """Store (or replace) the latest report of a model version under a gate version."""
    params = (system, version, gate_version, int(passed), report, at, ENTRY_INDEX)
    return Mutation((Statement(_RESULT, params),))


def current(conn: Connection, system: str) -> dict[str, Any] | None:
    """The newest gate-set version of a system, or None."""
    stmt = (
        select(gate_sets)
        .where(gate_sets.c.system == system)
        .order_by(gate_sets.c.version.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return None if row is None else row_dict(row)


def gate_set(conn: Connection, system: str, version: int) -> dict[str, Any] | None:
    """One gate-set version, or None."""
    stmt = select(gate_sets).where(gate_sets.c.system == system, gate_sets.c.version == version)
    row = conn.execute(stmt).first()
    return None if row is None else row_dict(row)


def gate_sets_of(conn: Connection, system: str) -> list[dict[str, Any]]:
    """Every gate-set version of a system, oldest first."""
    stmt = select(gate_sets).where(gate_sets.c.system == system).order_by(gate_sets.c.version)
    return [row_dict(r) for r in conn.execute(stmt)]


def result(conn: Connection, system: str, version: int, gate_version: int) -> dict[str, Any] | None:
    """The latest report of a model version under a gate-set version, or None."""
    stmt = select(gate_results).where(
        gate_results.c.system == system,
        gate_results.c.version == version,
        gate_results.c.gate_version == gate_version,
    )
    row = conn.execute(stmt).first()
    return None if row is None else row_dict(row)


def results(conn: Connection, system: str, version: int) -> list[dict[str, Any]]:
    """The latest report of a model version under each gate-set version, oldest first."""
    stmt = (
        select(gate_results)
        .where(gate_results.c.system == system, gate_results.c.version == version)
        .order_by(gate_results.c.gate_version)
    )
    return [row_dict(r) for r in conn.execute(stmt)]
