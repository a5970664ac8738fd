"""Human-review mode per system and the last firing of each policy response.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "review_modes",
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("ledger_index", Int64, nullable=False),
    )
    op.create_table(
        "response_firings",
        sa.Column("response", sa.String(200), primary_key=True),
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("fired_at", sa.Float, nullable=False),
        sa.Column("ledger_index", Int64, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("response_firings")
    op.drop_table("review_modes")
