"""Console users (argon2id password hashes), their sessions (SHA-256 digests of the
cookie secrets) and the results of ledger verifications run from the console.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("systems", sa.Text, nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("disabled_at", sa.Float, nullable=True),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.Float, nullable=True),
        sa.Column("ledger_index", Int64, nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
    )
    op.create_index("ix_console_sessions_username", "console_sessions", ["username"])
    op.create_table(
        "verifications",
        sa.Column("ledger_index", Int64, primary_key=True, autoincrement=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("size", Int64, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("first_bad_index", Int64, nullable=True),
        sa.Column("verified_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("verifications")
    op.drop_index("ix_console_sessions_username", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("users")
