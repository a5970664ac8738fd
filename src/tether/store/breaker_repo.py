"""Repository of circuit breakers: one row per system, action or agent that ever tripped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text

from tether.store._hot import HotReads
from tether.store.ledger_repo import Mutation, Statement
from tether.store.tables import breakers

__all__ = [
    "BreakerRow",
    "read",
    "read_all",
    "read_hot",
    "release_probe",
    "set_state",
    "take_probe",
]


@dataclass(frozen=True, slots=True)
class BreakerRow:
    """A breaker as stored."""

    key: str
    state: str
    manual: bool
    opened_at: float | None
    reason: str
    generation: int
    updated_at: float


_COLUMNS = (
    breakers.c.key,
    breakers.c.state,
    breakers.c.manual,
    breakers.c.opened_at,
    breakers.c.reason,
    breakers.c.generation,
    breakers.c.updated_at,
)

_SET = (
    "INSERT INTO breakers (key, state, manual, failures, window_start, window_calls, "
    "window_failures, opened_at, reason, generation, updated_at) "
    "VALUES (?, ?, ?, 0, ?, 0, 0, ?, ?, 1, ?) "
    "ON CONFLICT (key) DO UPDATE SET state = excluded.state, manual = excluded.manual, "
    "opened_at = excluded.opened_at, reason = excluded.reason, "
    "generation = breakers.generation + 1, updated_at = excluded.updated_at"
)


def set_state(
    key: str, state: str, *, manual: bool, reason: str, now: float, only_if: str | None = None
) -> Mutation:
    """Open or close a breaker (with the ledger entry recording why).

    ``only_if`` guards an automatic change: ``"automatic"`` never touches a breaker a
    person tripped (the kill switch stays until a person resets it); ``"half_open"``
    settles a probe only if it is still that breaker's probe. A guarded change that
    does not apply is a conflict (and its ledger entry is not written).
    """
    opened = now if state == "open" else None
    sql, expect = _SET, None
    if only_if == "automatic":
        sql, expect = _SET + " WHERE breakers.manual = 0", 1
    elif only_if == "half_open":
        sql, expect = _SET + " WHERE breakers.manual = 0 AND breakers.state = 'half_open'", 1
    params = (key, state, int(manual), now, opened, reason, now)
    return Mutation((Statement(sql, params, expect),), conflict=f"breaker {key} changed")


def _row(r: Any) -> BreakerRow:
    opened = r[3]
    return BreakerRow(str(r[0]), str(r[1]), bool(r[2]), None if opened is None else float(opened),
                      str(r[4]), int(r[5]), float(r[6]))  # fmt: skip


def read(conn: Connection, keys: Sequence[str]) -> list[BreakerRow]:
    """The stored breakers among ``keys`` (keys never tripped have no row)."""
    return [_row(r) for r in conn.execute(select(*_COLUMNS).where(breakers.c.key.in_(keys)))]


_HOT_SQL = (
    "SELECT key, state, manual, opened_at, reason, generation, updated_at FROM breakers "
    "WHERE key IN ({})"
)


def read_hot(hot: HotReads, keys: Sequence[str]) -> list[BreakerRow]:
    """:func:`read` on the hot path (a bare per-thread connection)."""
    sql = _HOT_SQL.format(", ".join("?" * len(keys)))
    return [_row(r) for r in hot.query(sql, tuple(keys))]


def read_all(conn: Connection) -> list[BreakerRow]:
    """Every stored breaker, by key."""
    return [_row(r) for r in conn.execute(select(*_COLUMNS).order_by(breakers.c.key))]


def take_probe(conn: Connection, key: str, generation: int, now: float) -> bool:
    """Move an automatically opened breaker (or a probe nobody settled) to half-open;
    True for the one caller that wins (it makes the probe call)."""
    result = conn.execute(
        text(
            "UPDATE breakers SET state = 'half_open', generation = generation + 1, "
            "updated_at = :now WHERE key = :key AND manual = 0 AND generation = :gen "
            "AND state IN ('open', 'half_open')"
        ),
        {"now": now, "key": key, "gen": generation},
    )
    return result.rowcount == 1


def release_probe(conn: Connection, key: str) -> None:
    """Return a half-open breaker to open (its probe call did not run)."""
    conn.execute(
        text("UPDATE breakers SET state = 'open', generation = generation + 1 "
             "WHERE key = :key AND state = 'half_open' AND manual = 0"),
        {"key": key},
    )  # fmt: skip
