"""Governance projections: inventory, policies, approvals, breakers, rate buckets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _col(name: str, kind: Any, *, null: bool = False, pk: bool = False) -> sa.Column[Any]:
    return sa.Column(name, kind, nullable=null, primary_key=pk)


def upgrade() -> None:
    op.create_table(
        "systems",
        _col("name", sa.String(200), pk=True),
        _col("kind", sa.String(20)),
        _col("owner", sa.String(200)),
        _col("risk_tier", sa.String(20)),
        _col("purpose", sa.Text),
        _col("environments", sa.Text),
        _col("created_at", sa.Float),
        _col("updated_at", sa.Float),
        _col("ledger_index", Int64),
    )
    op.create_table(
        "actors",
        _col("id", sa.String(200), pk=True),
        _col("kind", sa.String(20)),
        _col("roles", sa.Text),
        _col("attributes", sa.Text),
        _col("active", sa.Integer),
        _col("created_at", sa.Float),
        _col("updated_at", sa.Float),
        _col("ledger_index", Int64),
    )
    op.create_table(
        "policies",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        _col("name", sa.String(200)),
        _col("sha256", sa.String(64)),
        _col("source", sa.Text),
        _col("mode", sa.String(20)),
        _col("published_at", sa.Float),
        _col("published_by", sa.String(200)),
        _col("ledger_index", Int64),
    )
    op.create_table(
        "approvals",
        _col("id", sa.String(40), pk=True),
        _col("decision_id", sa.String(40)),
        _col("system", sa.String(200)),
        _col("action", sa.String(200)),
        _col("requester", sa.String(200)),
        _col("state", sa.String(20)),
        _col("level", sa.Integer),
        _col("requirements", sa.Text),
        _col("deadline", sa.Float, null=True),
        _col("reason", sa.Text),
        _col("request", sa.Text),
        _col("created_at", sa.Float),
        _col("updated_at", sa.Float),
        _col("resolved_at", sa.Float, null=True),
        _col("ledger_index", Int64),
    )
    op.create_index("approvals_by_state", "approvals", ["state", "deadline"])
    op.create_table(
        "approval_votes",
        _col("approval_id", sa.String(40), pk=True),
        _col("approver", sa.String(200), pk=True),
        _col("level", sa.Integer),
        _col("roles", sa.Text),
        _col("vote", sa.String(10)),
        _col("comment", sa.Text),
        _col("at", sa.Float),
        _col("ledger_index", Int64),
    )
    op.create_table(
        "breakers",
        _col("key", sa.String(420), pk=True),
        _col("state", sa.String(12)),
        _col("manual", sa.Integer),
        _col("failures", sa.Integer),
        _col("window_start", sa.Float),
        _col("window_calls", sa.Integer),
        _col("window_failures", sa.Integer),
        _col("opened_at", sa.Float, null=True),
        _col("reason", sa.Text),
        _col("generation", sa.Integer),
        _col("updated_at", sa.Float),
    )
    op.create_table(
        "rate_buckets",
        _col("key", sa.String(500), pk=True),
        _col("tokens", sa.Float),
        _col("updated_at", sa.Float),
    )


def downgrade() -> None:
    for name in ("rate_buckets", "breakers", "approval_votes", "approvals", "policies", "actors",
                 "systems"):  # fmt: skip
        op.drop_table(name)
