"""The event that scheduled each timer: `timers.event_id`, so the patient page can say why a reminder or check-in is
coming, and which event of the history set it.

Timers scheduled before this revision have no recorded cause (the column is empty); every new timer gets one. Outbox
rows already name their event (`outbox.event_id`, since the initial schema).

Revision ID: 0014_why18
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_why18"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_timers_event_id", "events", ["event_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_timers_event_id", type_="foreignkey")
        batch_op.drop_column("event_id")
