"""Model versions, aliases and every alias move.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("registered_at", sa.Float, nullable=False),
        sa.Column("ledger_index", Int64, nullable=False),
    )
    op.create_index("model_versions_by_digest", "model_versions", ["system", "digest"],
                    unique=True)  # fmt: skip
    op.create_table(
        "aliases",
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("moved_at", sa.Float, nullable=False),
        sa.Column("ledger_index", Int64, nullable=False),
    )
    op.create_table(
        "alias_moves",
        sa.Column("ledger_index", Int64, primary_key=True, autoincrement=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("previous", sa.Integer, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("moved_at", sa.Float, nullable=False),
    )
    op.create_index("alias_moves_by_alias", "alias_moves", ["system", "alias", "ledger_index"])


def downgrade() -> None:
    op.drop_table("alias_moves")
    op.drop_table("aliases")
    op.drop_table("model_versions")
