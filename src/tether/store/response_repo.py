"""Repository of human-review modes and of the last firing of each policy response."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from tether.store._rows import row_dict
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import response_firings, review_modes

__all__ = ["clear_review", "enter_review", "fire", "firing", "reviews"]


def enter_review(system: str, roles: str, reason: str, now: float) -> Mutation:
    """Put ``system`` in human-review mode (``roles``: JSON); a second entry while it is
    in review is a conflict (the first reason stands)."""
    return Mutation(
        (
            Statement(
                "INSERT INTO review_modes (system, roles, reason, since, ledger_index) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (system) DO NOTHING",
                (system, roles, reason, now, ENTRY_INDEX),
                expect_rows=1,
            ),
        ),
        conflict=f"{system} is already in human-review mode",
    )


def clear_review(system: str) -> Mutation:
    """Take ``system`` out of human-review mode (a conflict if it is not in it)."""
    return Mutation(
        (Statement("DELETE FROM review_modes WHERE system = ?", (system,), expect_rows=1),),
        conflict=f"{system} is not in human-review mode",
    )


def reviews(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every system in human-review mode, by name."""
    return {r["system"]: r for r in map(row_dict, conn.execute(select(review_modes)))}


def fire(response: str, system: str, now: float, cooldown: float) -> Mutation:
    """Take the response's turn for ``system`` if its last firing is ``cooldown``
    seconds old or more (compare-and-set: of two processes answering the same kind
    of signal at once, one fires)."""
    return Mutation(
        (
            Statement(
                "INSERT INTO response_firings (response, system, fired_at, ledger_index) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (response, system) DO UPDATE SET "
                "fired_at = excluded.fired_at, ledger_index = excluded.ledger_index "
                "WHERE response_firings.fired_at <= ?",
                (response, system, now, ENTRY_INDEX, now - cooldown),
                expect_rows=1,
            ),
        ),
        conflict=f"response {response} fired for {system} within its cool-down",
    )


def firing(conn: Connection, response: str, system: str) -> dict[str, Any] | None:
    """The last firing of a response for a system."""
    row = conn.execute(
        select(response_firings).where(
            response_firings.c.response == response, response_firings.c.system == system
        )
    ).first()
    return None if row is None else row_dict(row)
