"""Repository of decision explanations: which decision was explained, by which entry."""

from __future__ import annotations

from sqlalchemy import Connection, select

from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import explanations, ledger_entries

__all__ = ["record", "stored"]


def record(decision_id: str, system: str, digest: str, at: float) -> Mutation:
    """Index a decision's explanation; a second explanation of it fails (nothing is
    appended), so a decision has exactly one, even across processes."""
    sql = (
        "INSERT INTO explanations (decision_id, system, digest, explained_at, ledger_index) "
        "VALUES (?, ?, ?, ?, ?)"
    )
    return Mutation(
        (Statement(sql, (decision_id, system, digest, at, ENTRY_INDEX), expect_rows=1),),
        conflict=f"decision {decision_id} was explained meanwhile",
    )


def stored(conn: Connection, decision_id: str) -> tuple[int, bytes | None] | None:
    """(ledger index, payload) of a decision's explanation entry; the payload is None
    once erased; None when the decision was never explained."""
    stmt = (
        select(explanations.c.ledger_index, ledger_entries.c.payload)
        .join(ledger_entries, ledger_entries.c.idx == explanations.c.ledger_index)
        .where(explanations.c.decision_id == decision_id)
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None
    return int(row[0]), None if row[1] is None else bytes(row[1])
