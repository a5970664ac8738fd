"""Decisions by id, and the ground-truth labels joined to them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("ledger_index", Int64, nullable=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("output", sa.Text, nullable=True),
    )
    op.create_index("decisions_by_system", "decisions", ["system", "at"])
    op.create_table(
        "feedback",
        sa.Column("decision_id", sa.String(40), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("ledger_index", Int64, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("decisions")
