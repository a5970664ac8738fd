"""Repository of recorded monitoring checks (projections of ``monitor.check`` entries),
and the reads the monitoring console needs: baselines, checks and signals per system.

A check's report lives in its ledger entry's payload; ``monitor_checks`` only indexes
the entries by system, so a system's latest checks are one indexed range read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from tether.store._rows import row_dict
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import baselines, ledger_entries, monitor_checks, signals

__all__ = [
    "BaselineRow",
    "CheckRow",
    "baseline_rows",
    "check_counts",
    "checks",
    "record_check",
    "signal_rows",
]


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One recorded check: its ledger index, when, and its payload (None once erased)."""

    ledger_index: int
    checked_at: float
    payload: bytes | None


@dataclass(frozen=True, slots=True)
class BaselineRow:
    """A system's stored baseline as its ``monitor.baseline`` entry describes it."""

    system: str
    action: str | None
    digest: str
    set_at: float
    ledger_index: int
    payload: bytes | None  # the entry's payload (window size, rows, features); None once erased


def record_check(system: str, at: float) -> Mutation:
    """Index a ``monitor.check`` entry under its system."""
    sql = "INSERT INTO monitor_checks (system, ledger_index, checked_at) VALUES (?, ?, ?)"
    return Mutation((Statement(sql, (system, ENTRY_INDEX, at)),))


def checks(
    conn: Connection, system: str, *, last: int, before: int | None = None
) -> list[CheckRow]:
    """The ``last`` recorded checks of ``system`` (those before ledger index ``before``:
    keyset paging), oldest first."""
    stmt = (
        select(monitor_checks.c.ledger_index, monitor_checks.c.checked_at, ledger_entries.c.payload)
        .join(ledger_entries, ledger_entries.c.idx == monitor_checks.c.ledger_index)
        .where(monitor_checks.c.system == system)
        .order_by(monitor_checks.c.ledger_index.desc())
        .limit(last)
    )
    if before is not None:
        stmt = stmt.where(monitor_checks.c.ledger_index < before)
    rows = [
        CheckRow(int(i), float(at), None if p is None else bytes(p))
        for i, at, p in conn.execute(stmt)
    ]
    return rows[::-1]


def check_counts(conn: Connection) -> dict[str, tuple[int, float]]:
    """Per system with recorded checks: (how many, when the latest was)."""
    stmt = select(
        monitor_checks.c.system, func.count(), func.max(monitor_checks.c.checked_at)
    ).group_by(monitor_checks.c.system)
    return {str(s): (int(n), float(at)) for s, n, at in conn.execute(stmt)}


def baseline_rows(conn: Connection, systems: Sequence[str] | None = None) -> list[BaselineRow]:
    """The stored baselines (of ``systems``; None: all), by system, without their
    (large) profiles: what their ``monitor.baseline`` entries say."""
    stmt = (
        select(baselines.c.system, baselines.c.action, baselines.c.digest, baselines.c.set_at,
               baselines.c.ledger_index, ledger_entries.c.payload)
        .join(ledger_entries, ledger_entries.c.idx == baselines.c.ledger_index)
        .order_by(baselines.c.system)
    )  # fmt: skip
    if systems is not None:
        stmt = stmt.where(baselines.c.system.in_(list(systems)))
    return [
        BaselineRow(str(s), a, str(d), float(at), int(i), None if p is None else bytes(p))
        for s, a, d, at, i, p in conn.execute(stmt)
    ]


def signal_rows(
    conn: Connection, system: str | None = None, *, limit: int = 200
) -> list[dict[str, Any]]:
    """Signals, active and cleared (of one system), latest raised first; each condition
    (system, kind, feature, statistic) once, as last raised or cleared."""
    stmt = select(signals).order_by(signals.c.raised_at.desc(), signals.c.key).limit(limit)
    if system is not None:
        stmt = stmt.where(signals.c.system == system)
    return [row_dict(r) for r in conn.execute(stmt)]
