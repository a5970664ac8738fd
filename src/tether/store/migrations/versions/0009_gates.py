"""Model gates: each system's gate-set versions and the gate results per model version.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "gate_sets",
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_at", sa.Float, nullable=False),
        sa.Column("ledger_index", Int64, nullable=False),
    )
    op.create_table(
        "gate_results",
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("gate_version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("passed", sa.Integer, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("evaluated_at", sa.Float, nullable=False),
        sa.Column("ledger_index", Int64, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gate_results")
    op.drop_table("gate_sets")
