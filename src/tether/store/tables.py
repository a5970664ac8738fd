"""SQLAlchemy Core tables. Schema changes are Alembic migrations in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "ledger_checkpoints",
    "ledger_entries",
    "ledger_head",
    "ledger_meta",
    "ledger_nodes",
    "metadata",
]

metadata = MetaData()

# On SQLite only "INTEGER PRIMARY KEY" aliases the rowid (the fast clustered key).
Int64 = BigInteger().with_variant(Integer(), "sqlite")

ledger_meta = Table(
    "ledger_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row: the tree head, locked by every appending transaction (this serialises
# appenders across processes and makes index order equal commit order).
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", Int64, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("checkpoint_size", Int64, nullable=False),
    Column("checkpoint_at", Float, nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", Int64, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),  # canonical JSON (RFC 8785) of the entry
    Column("leaf", LargeBinary, nullable=False),  # SHA-256(0x00 || entry), a cache
    Column("payload", LargeBinary, nullable=True),  # canonical JSON; NULL once erased
    Column("erased_by", Int64, nullable=True),  # index of the payload.erased entry
)

# Complete Merkle subtrees of level >= 1; key = (size at completion) * 64 + level,
# so key order is creation order (see ledger._merkle.node_key).
ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    Column("key", Int64, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", Int64, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),  # C2SP signed note
    Column("created_at", Float, nullable=False),
)
