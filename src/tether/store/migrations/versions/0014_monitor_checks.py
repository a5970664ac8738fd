"""Monitoring checks: which ledger entries record a system's checks (monitor.check).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitor_checks",
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("ledger_index", Int64, primary_key=True, autoincrement=False),
        sa.Column("checked_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monitor_checks")
