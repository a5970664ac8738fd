"""Repository of shared rate-limit buckets (operational state, not ledger projections)."""

from __future__ import annotations

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tether.store.tables import rate_buckets

__all__ = ["take"]


def take(
    conn: Connection, key: str, capacity: float, per_second: float, now: float
) -> tuple[bool, float]:
    """Take one token from bucket ``key`` inside the caller's write transaction.

    Returns (allowed, seconds until the next token). The row is locked for the rest of
    the transaction (SQLite: the write transaction; PostgreSQL: ``FOR UPDATE``), so
    every process shares one bucket.
    """
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        dialect_insert(rate_buckets)
        .values(key=key, tokens=capacity, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    tokens, at = conn.execute(
        select(rate_buckets.c.tokens, rate_buckets.c.updated_at)
        .where(rate_buckets.c.key == key)
        .with_for_update()
    ).one()
    tokens = min(capacity, float(tokens) + max(0.0, now - float(at)) * per_second)
    allowed = tokens >= 1.0
    if allowed:
        tokens -= 1.0
    conn.execute(
        update(rate_buckets).where(rate_buckets.c.key == key).values(tokens=tokens, updated_at=now)
    )
    return allowed, 0.0 if allowed else (1.0 - tokens) / per_second
