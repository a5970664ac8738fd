"""Monitoring baselines per system.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("action", sa.String(200), nullable=True),
        sa.Column("baseline", sa.Text, nullable=False),
        sa.Column("anomalies", sa.Text, nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("set_at", sa.Float, nullable=False),
        sa.Column("ledger_index", Int64, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("baselines")
