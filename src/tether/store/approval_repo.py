"""Repository of approvals and their votes (projections of ``approval.*`` entries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, select

from tether.store._rows import row_dict
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import approval_votes, approvals

__all__ = [
    "consume",
    "create",
    "due",
    "get",
    "listing",
    "transition",
    "vote",
    "votes",
]

OPEN = ("pending", "escalated")


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def create(
    approval_id: str,
    decision_id: str,
    system: str,
    action: str,
    requester: str,
    requirements: Any,
    deadline: float | None,
    reason: str,
    request: Any,
    now: float,
) -> Mutation:
    """Insert a pending approval."""
    sql = (
        "INSERT INTO approvals (id, decision_id, system, action, requester, state, level, "
        "requirements, deadline, reason, request, created_at, updated_at, resolved_at, "
        "ledger_index) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, NULL, ?)"
    )
    params = (approval_id, decision_id, system, action, requester, _json(requirements),
              deadline, reason, _json(request), now, now, ENTRY_INDEX)  # fmt: skip
    return Mutation((Statement(sql, params, expect_rows=1),))


def _cas(approval_id: str, state: str, level: int, version: int) -> Statement:
    """Fails unless the approval is still exactly as it was read; bumps its version."""
    return Statement(
        "UPDATE approvals SET version = version + 1 WHERE id = ? AND state = ? AND level = ? "
        "AND version = ?",
        (approval_id, state, level, version),
        expect_rows=1,
    )


def vote(
    approval_id: str,
    approver: str,
    level: int,
    roles: Sequence[str],
    choice: str,
    comment: str,
    now: float,
    seen: tuple[str, int, int],
    then: tuple[str, int, float | None] | None = None,
) -> Mutation:
    """Record a vote; with ``then`` also move the approval to (state, level, deadline).

    ``seen`` is (state, level, version) as read: a concurrent change is a conflict.
    """
    state, seen_level, version = seen
    statements = [
        _cas(approval_id, state, seen_level, version),
        Statement(
            "INSERT INTO approval_votes (approval_id, approver, level, roles, vote, comment, at, "
            "ledger_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (approval_id, approver, level, _json(list(roles)), choice, comment, now, ENTRY_INDEX),
        ),
    ]
    if then is not None:
        statements.append(_move(approval_id, then, now))
    return Mutation(tuple(statements), conflict=f"approval {approval_id} changed meanwhile")


def _move(approval_id: str, then: tuple[str, int, float | None], now: float) -> Statement:
    state, level, deadline = then
    resolved = now if state not in OPEN else None
    return Statement(
        "UPDATE approvals SET state = ?, level = ?, deadline = ?, updated_at = ?, "
        "resolved_at = ?, ledger_index = ? WHERE id = ?",
        (state, level, deadline, now, resolved, ENTRY_INDEX, approval_id),
        expect_rows=1,
    )


def transition(
    approval_id: str, seen: tuple[str, int, int], then: tuple[str, int, float | None], now: float
) -> Mutation:
    """Move an approval that is still as read (escalate, expire, reject, override)."""
    state, level, version = seen
    return Mutation(
        (_cas(approval_id, state, level, version), _move(approval_id, then, now)),
        conflict=f"approval {approval_id} changed meanwhile",
    )


def consume(approval_id: str, now: float) -> Mutation:
    """Mark an approved approval as used by the action it approved (once)."""
    return Mutation(
        (
            Statement(
                "UPDATE approvals SET state = 'consumed', updated_at = ?, resolved_at = ?, "
                "version = version + 1, ledger_index = ? WHERE id = ? "
                "AND state IN ('approved', 'overridden')",
                (now, now, ENTRY_INDEX, approval_id),
                expect_rows=1,
            ),
        ),
        conflict=f"approval {approval_id} was already used",
    )


def _approval(row: Any) -> dict[str, Any]:
    d = row_dict(row)
    d["requirements"] = orjson.loads(d["requirements"])
    d["request"] = orjson.loads(d["request"])
    return d


def get(conn: Connection, approval_id: str) -> dict[str, Any] | None:
    """One approval as a dict of its columns, or None."""
    row = conn.execute(select(approvals).where(approvals.c.id == approval_id)).first()
    return None if row is None else _approval(row)


def votes(conn: Connection, approval_id: str) -> list[dict[str, Any]]:
    """The votes cast on an approval, oldest first."""
    stmt = (
        select(approval_votes)
        .where(approval_votes.c.approval_id == approval_id)
        .order_by(approval_votes.c.at, approval_votes.c.approver)
    )
    out = []
    for row in conn.execute(stmt):
        d = row_dict(row)
        d["roles"] = orjson.loads(d["roles"])
        out.append(d)
    return out


def listing(
    conn: Connection, states: Sequence[str] | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Approvals, newest first, optionally in some states."""
    stmt = select(approvals).order_by(approvals.c.created_at.desc(), approvals.c.id)
    if states:
        stmt = stmt.where(approvals.c.state.in_(list(states)))
    return [_approval(r) for r in conn.execute(stmt.limit(limit).offset(offset))]


def due(conn: Connection, now: float) -> list[dict[str, Any]]:
    """Open approvals whose deadline has passed."""
    stmt = select(approvals).where(
        approvals.c.state.in_(OPEN), approvals.c.deadline.is_not(None), approvals.c.deadline <= now
    )
    return [_approval(r) for r in conn.execute(stmt)]
