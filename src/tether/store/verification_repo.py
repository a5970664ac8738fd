"""Repository of ledger verification results (projections of ``ledger.verified`` entries)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import verifications

__all__ = ["VerificationRow", "latest", "record"]


@dataclass(frozen=True, slots=True)
class VerificationRow:
    """One recorded verification of the whole ledger."""

    ledger_index: int
    actor: str
    ok: bool
    size: int
    summary: str
    first_bad_index: int | None
    verified_at: float


def record(
    actor: str, ok: bool, size: int, summary: str, first_bad_index: int | None, at: float
) -> Mutation:
    """Insert a verification result (carried by its ``ledger.verified`` entry)."""
    sql = (
        "INSERT INTO verifications (ledger_index, actor, ok, size, summary, first_bad_index, "
        "verified_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    params = (ENTRY_INDEX, actor, ok, size, summary, first_bad_index, at)
    return Mutation((Statement(sql, params, expect_rows=1),))


def latest(conn: Connection) -> VerificationRow | None:
    """The most recent verification, or None."""
    row = conn.execute(
        select(
            verifications.c.ledger_index, verifications.c.actor, verifications.c.ok,
            verifications.c.size, verifications.c.summary, verifications.c.first_bad_index,
            verifications.c.verified_at,
        ).order_by(verifications.c.ledger_index.desc()).limit(1)
    ).first()  # fmt: skip
    if row is None:
        return None
    return VerificationRow(
        int(row[0]), str(row[1]), bool(row[2]), int(row[3]), str(row[4]),
        None if row[5] is None else int(row[5]), float(row[6]),
    )  # fmt: skip
