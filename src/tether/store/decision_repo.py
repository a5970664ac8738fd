"""Repository of decisions by id and the labels joined to them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Select, select

from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import decisions, feedback, ledger_entries

__all__ = [
    "FeedRow",
    "add_labels",
    "entry",
    "feed",
    "feed_query",
    "for_ids",
    "known",
    "labelled",
    "labelled_entries",
    "record",
    "window",
]

_RECORD = (
    "INSERT INTO decisions (id, ledger_index, system, action, outcome, at, output, actor) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)


def record(
    decision_id: str,
    system: str,
    action: str,
    outcome: str,
    at: float,
    output: Any,
    actor: str | None = None,
) -> Mutation:
    """Index a decision by id (its ledger entry carries this mutation)."""
    out = None if output is None else orjson.dumps(output).decode()
    params = (decision_id, ENTRY_INDEX, system, action, outcome, at, out, actor)
    return Mutation((Statement(_RECORD, params),), batched=True)


def known(conn: Connection, ids: Sequence[str]) -> tuple[set[str], set[str]]:
    """Of ``ids``: those that are decisions, and those already labelled."""
    found: set[str] = set()
    done: set[str] = set()
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        found |= {
            r[0] for r in conn.execute(select(decisions.c.id).where(decisions.c.id.in_(part)))
        }
        done |= {
            r[0]
            for r in conn.execute(
                select(feedback.c.decision_id).where(feedback.c.decision_id.in_(part))
            )
        }
    return found, done


def add_labels(labels: Sequence[tuple[str, Any]], at: float) -> Mutation:
    """Insert labels; one already there is kept (joined once)."""
    sql = (
        "INSERT INTO feedback (decision_id, label, at, ledger_index) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (decision_id) DO NOTHING"
    )
    return Mutation(
        tuple(Statement(sql, (d, orjson.dumps(v).decode(), at, ENTRY_INDEX)) for d, v in labels)
    )


def labelled(
    conn: Connection, system: str, since: float | None, until: float | None
) -> list[tuple[str, float, Any, Any]]:
    """(decision id, time, output, label) of a system's labelled decisions, by time."""
    stmt = (
        select(decisions.c.id, decisions.c.at, decisions.c.output, feedback.c.label)
        .join(feedback, feedback.c.decision_id == decisions.c.id)
        .where(decisions.c.system == system)
        .order_by(decisions.c.at, decisions.c.id)
    )
    if since is not None:
        stmt = stmt.where(decisions.c.at >= since)
    if until is not None:
        stmt = stmt.where(decisions.c.at < until)
    return [
        (str(i), float(a), None if o is None else orjson.loads(o), orjson.loads(lbl))
        for i, a, o, lbl in conn.execute(stmt)
    ]


def for_ids(conn: Connection, ids: Sequence[str]) -> list[tuple[str, str, float, Any]]:
    """(id, system, time, output) of the given decisions, by time."""
    out: list[tuple[str, str, float, Any]] = []
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        stmt = select(decisions.c.id, decisions.c.system, decisions.c.at, decisions.c.output).where(
            decisions.c.id.in_(part)
        )
        out.extend(
            (str(i), str(s), float(a), None if o is None else orjson.loads(o))
            for i, s, a, o in conn.execute(stmt)
        )
    return sorted(out, key=lambda r: (r[2], r[0]))


def window(
    conn: Connection,
    system: str,
    *,
    action: str | None = None,
    last: int | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[tuple[str, float, bytes | None]]:
    """(id, time, ledger payload) of a system's decisions, oldest first: the ``last``
    ones, or those with ``since <= time < until``. An erased payload is None."""
    stmt = (
        select(decisions.c.id, decisions.c.at, ledger_entries.c.payload)
        .join(ledger_entries, ledger_entries.c.idx == decisions.c.ledger_index)
        .where(decisions.c.system == system)
    )
    if action is not None:
        stmt = stmt.where(decisions.c.action == action)
    if since is not None:
        stmt = stmt.where(decisions.c.at >= since)
    if until is not None:
        stmt = stmt.where(decisions.c.at < until)
    stmt = stmt.order_by(decisions.c.at.desc(), decisions.c.ledger_index.desc())
    if last is not None:
        stmt = stmt.limit(last)
    rows = [(str(i), float(a), None if p is None else bytes(p)) for i, a, p in conn.execute(stmt)]
    rows.reverse()
    return rows


def entry(conn: Connection, decision_id: str) -> tuple[str, str, int, bytes | None] | None:
    """(system, outcome, ledger index, ledger payload) of one decision; the payload is
    None once erased; None when there is no such decision."""
    stmt = (
        select(decisions.c.system, decisions.c.outcome, decisions.c.ledger_index,
               ledger_entries.c.payload)
        .join(ledger_entries, ledger_entries.c.idx == decisions.c.ledger_index)
        .where(decisions.c.id == decision_id)
    )  # fmt: skip
    row = conn.execute(stmt).first()
    if row is None:
        return None
    return str(row[0]), str(row[1]), int(row[2]), None if row[3] is None else bytes(row[3])


def labelled_entries(
    conn: Connection,
    system: str,
    *,
    last: int | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[tuple[str, float, Any, Any, bytes | None]]:
    """(id, time, output, label, ledger payload) of a system's labelled decisions,
    oldest first: the ``last`` ones, or those with ``since <= time < until``."""
    stmt = (
        select(decisions.c.id, decisions.c.at, decisions.c.output, feedback.c.label,
               ledger_entries.c.payload)
        .join(feedback, feedback.c.decision_id == decisions.c.id)
        .join(ledger_entries, ledger_entries.c.idx == decisions.c.ledger_index)
        .where(decisions.c.system == system)
    )  # fmt: skip
    if since is not None:
        stmt = stmt.where(decisions.c.at >= since)
    if until is not None:
        stmt = stmt.where(decisions.c.at < until)
    stmt = stmt.order_by(decisions.c.at.desc(), decisions.c.ledger_index.desc())
    if last is not None:
        stmt = stmt.limit(last)
    rows = [
        (str(i), float(a), None if o is None else orjson.loads(o), orjson.loads(lbl),
         None if p is None else bytes(p))
        for i, a, o, lbl, p in conn.execute(stmt)
    ]  # fmt: skip
    rows.reverse()
    return rows


class FeedRow(NamedTuple):
    """One decision of the feed (its record is in the ledger at ``ledger_index``)."""

    id: str
    ledger_index: int
    system: str
    action: str
    actor: str | None
    outcome: str
    at: float


def feed(conn: Connection, *, limit: int, **filters: Any) -> list[FeedRow]:
    """Decisions newest first (by ledger index), at most ``limit``; ``filters`` are
    those of :func:`feed_query`."""
    return [
        FeedRow(str(i), int(x), str(s), str(a), None if p is None else str(p), str(o), float(t))
        for i, x, s, a, p, o, t in conn.execute(feed_query(limit=limit, **filters))
    ]


def feed_query(
    *,
    limit: int,
    before: int | None = None,
    systems: Sequence[str] | None = None,
    system: str | None = None,
    actor: str | None = None,
    outcome: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> Select[Any]:
    """The feed's one indexed query: at most ``limit`` decisions newest first, those
    before ledger index ``before`` (keyset paging: pass the last row's index),
    optionally only of ``systems`` (a token's or user's scope), of one ``system``,
    ``actor`` or ``outcome``, and with ``since <= time < until``."""
    stmt = select(
        decisions.c.id, decisions.c.ledger_index, decisions.c.system, decisions.c.action,
        decisions.c.actor, decisions.c.outcome, decisions.c.at,
    )  # fmt: skip
    if before is not None:
        stmt = stmt.where(decisions.c.ledger_index < before)
    if systems is not None:
        stmt = stmt.where(decisions.c.system.in_(list(systems)))
    if system is not None:
        stmt = stmt.where(decisions.c.system == system)
    if actor is not None:
        stmt = stmt.where(decisions.c.actor == actor)
    if outcome is not None:
        stmt = stmt.where(decisions.c.outcome == outcome)
    if since is not None:
        stmt = stmt.where(decisions.c.at >= since)
    if until is not None:
        stmt = stmt.where(decisions.c.at < until)
    return stmt.order_by(decisions.c.ledger_index.desc()).limit(limit)
