"""The event that raised each worklist item: `escalations.event_id`, so a report or a page can say why it exists.

Items raised before this revision have no recorded cause (the column is empty); every new item gets one.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_escalations_event_id", "events", ["event_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_constraint("fk_escalations_event_id", type_="foreignkey")
        batch_op.drop_column("event_id")
