"""Repository of the server's API tokens (digests of secrets, never the secrets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select

from tether.store._hot import HotReads
from tether.store.ledger_repo import ENTRY_INDEX, Mutation, Statement
from tether.store.tables import tokens

__all__ = ["TokenRow", "by_digest", "by_digest_hot", "create", "get", "listing", "revoke"]


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A token as stored: who it speaks for, its role, scope and lifetime."""

    id: str
    digest: str
    actor: str
    role: str
    systems: tuple[str, ...] | None
    created_by: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    ledger_index: int


_COLUMNS = (
    tokens.c.id,
    tokens.c.digest,
    tokens.c.actor,
    tokens.c.role,
    tokens.c.systems,
    tokens.c.created_by,
    tokens.c.created_at,
    tokens.c.expires_at,
    tokens.c.revoked_at,
    tokens.c.ledger_index,
)


def create(
    token_id: str,
    digest: str,
    actor: str,
    role: str,
    systems: tuple[str, ...] | None,
    created_by: str,
    at: float,
    expires_at: float | None,
) -> Mutation:
    """Insert a token row (carried by its ``token.created`` entry)."""
    sql = (
        "INSERT INTO tokens (id, digest, actor, role, systems, created_by, created_at, "
        "expires_at, revoked_at, ledger_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
    )
    scope = None if systems is None else orjson.dumps(list(systems)).decode()
    params = (token_id, digest, actor, role, scope, created_by, at, expires_at, ENTRY_INDEX)
    return Mutation((Statement(sql, params, expect_rows=1),))


def revoke(token_id: str, at: float) -> Mutation:
    """Mark a live token revoked; fails (nothing appended) if it already was."""
    sql = "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
    return Mutation(
        (Statement(sql, (at, token_id), expect_rows=1),),
        conflict=f"token {token_id} was revoked meanwhile",
    )


def get(conn: Connection, token_id: str) -> TokenRow | None:
    """One token by id, or None."""
    row = conn.execute(select(*_COLUMNS).where(tokens.c.id == token_id)).first()
    return None if row is None else _row(row)


def by_digest(conn: Connection, digest: str) -> TokenRow | None:
    """The token whose secret hashes to ``digest``, or None."""
    row = conn.execute(select(*_COLUMNS).where(tokens.c.digest == digest)).first()
    return None if row is None else _row(row)


_HOT_SQL = (
    "SELECT id, digest, actor, role, systems, created_by, created_at, expires_at, "
    "revoked_at, ledger_index FROM tokens WHERE digest = ?"
)


def by_digest_hot(hot: HotReads, digest: str) -> TokenRow | None:
    """:func:`by_digest` on the request path (a bare connection, no pool or BEGIN)."""
    rows = hot.query(_HOT_SQL, (digest,))
    return _row(rows[0]) if rows else None


def listing(conn: Connection) -> list[TokenRow]:
    """Every token, oldest first."""
    return [_row(r) for r in conn.execute(select(*_COLUMNS).order_by(tokens.c.created_at,
                                                                       tokens.c.id))]  # fmt: skip


def _row(r: Any) -> TokenRow:
    systems = None if r[4] is None else tuple(orjson.loads(r[4]))
    return TokenRow(
        str(r[0]), str(r[1]), str(r[2]), str(r[3]), systems, str(r[5]), float(r[6]),
        None if r[7] is None else float(r[7]), None if r[8] is None else float(r[8]), int(r[9]),
    )  # fmt: skip
