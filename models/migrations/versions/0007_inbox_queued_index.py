"""The scheduler's inbox sweep reads only texts handed out and not yet applied: a partial index on them.

Without it the sweep, every second, reads every handed-out text (thousands in a burst) to find the stale ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbox_queued", "inbox", ["claimed_at"], postgresql_where=sa.text("status = 'queued'"),
                    sqlite_where=sa.text("status = 'queued'"))


def downgrade() -> None:
    op.drop_index("ix_inbox_queued", table_name="inbox")
