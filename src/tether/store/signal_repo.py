"""Repository of active monitoring signals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from tether.store._rows import row_dict
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import signals

__all__ = ["active", "clear", "get", "raise_signal"]

_RAISE = (
    "INSERT INTO signals (key, system, kind, feature, statistic, severity, value, threshold, "
    "raised_at, cleared_at, ledger_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) "
    "ON CONFLICT (key) DO UPDATE SET severity = excluded.severity, value = excluded.value, "
    "threshold = excluded.threshold, raised_at = excluded.raised_at, cleared_at = NULL, "
    "ledger_index = excluded.ledger_index"
)


def raise_signal(
    key: str, system: str, kind: str, feature: str, statistic: str, severity: str,
    value: float, threshold: float | None, now: float,
) -> Mutation:  # fmt: skip
    """Record (or refresh) an active signal."""
    params = (key, system, kind, feature, statistic, severity, value, threshold, now, ENTRY_INDEX)
    return Mutation((Statement(_RAISE, params),))


def clear(key: str, now: float) -> Mutation:
    """Clear an active signal (fails as a conflict when it is not active)."""
    return Mutation(
        (
            Statement(
                "UPDATE signals SET cleared_at = ?, ledger_index = ? WHERE key = ? "
                "AND cleared_at IS NULL",
                (now, ENTRY_INDEX, key),
                expect_rows=1,
            ),
        ),
        conflict=f"signal {key} is not active",
    )


def get(conn: Connection, key: str) -> dict[str, Any] | None:
    """One signal row, active or cleared."""
    row = conn.execute(select(signals).where(signals.c.key == key)).first()
    return None if row is None else row_dict(row)


def active(conn: Connection, system: str | None = None) -> list[dict[str, Any]]:
    """Active signals (of one system), newest first."""
    stmt = select(signals).where(signals.c.cleared_at.is_(None))
    if system is not None:
        stmt = stmt.where(signals.c.system == system)
    return [row_dict(r) for r in conn.execute(stmt.order_by(signals.c.raised_at.desc()))]
