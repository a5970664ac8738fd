"""The decision feed: who asked (``decisions.actor``) and indexes for the newest-first
feed filtered by system, actor, outcome or time.

Decisions recorded before this revision have no actor in this column (their ledger
record still names it).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("actor", sa.String(200), nullable=True))
    op.create_index("decisions_feed", "decisions", ["ledger_index"])
    op.create_index("decisions_feed_by_system", "decisions", ["system", "ledger_index"])
    op.create_index("decisions_feed_by_actor", "decisions", ["actor", "ledger_index"])
    op.create_index("decisions_feed_by_outcome", "decisions", ["outcome", "ledger_index"])
    op.create_index("decisions_by_time", "decisions", ["at", "ledger_index"])


def downgrade() -> None:
    for name in ("decisions_by_time", "decisions_feed_by_outcome", "decisions_feed_by_actor",
                 "decisions_feed_by_system", "decisions_feed"):  # fmt: skip
        op.drop_index(name, table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("actor")
