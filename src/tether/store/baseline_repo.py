"""Repository of monitoring baselines, one per system."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from tether.store._rows import row_dict
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import baselines

__all__ = ["get", "put"]

_PUT = (
    "INSERT INTO baselines (system, action, baseline, anomalies, digest, set_at, ledger_index) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (system) DO UPDATE SET action = excluded.action, "
    "baseline = excluded.baseline, anomalies = excluded.anomalies, digest = excluded.digest, "
    "set_at = excluded.set_at, ledger_index = excluded.ledger_index"
)


def put(
    system: str, action: str | None, baseline: str, anomalies: str | None, digest: str, at: float
) -> Mutation:
    """Set (or replace) a system's baseline."""
    return Mutation((Statement(_PUT, (system, action, baseline, anomalies, digest, at,
                                      ENTRY_INDEX)),))  # fmt: skip


def get(conn: Connection, system: str) -> dict[str, Any] | None:
    """A system's baseline row, or None."""
    row = conn.execute(select(baselines).where(baselines.c.system == system)).first()
    return None if row is None else row_dict(row)
