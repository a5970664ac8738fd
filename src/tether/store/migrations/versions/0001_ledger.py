"""The ledger: entries, Merkle nodes, head and signed checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", Int64, nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("checkpoint_size", Int64, nullable=False),
        sa.Column("checkpoint_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("idx", Int64, primary_key=True, autoincrement=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("leaf", sa.LargeBinary, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=True),
        sa.Column("erased_by", Int64, nullable=True),
    )
    op.create_table(
        "ledger_nodes",
        sa.Column("key", Int64, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", Int64, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "ledger_checkpoints",
        "ledger_nodes",
        "ledger_entries",
        "ledger_head",
        "ledger_meta",
    ):
        op.drop_table(name)
