"""Every event a signed-in user causes records the user's id: `events.actor_user_id`, beside the name at the time.

Names change and can be shared; the id cannot. Events from before this migration, and those of carepath itself, the
patient and the simulator, keep None.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key to an existing table, so it copies the table; PostgreSQL alters it.
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_user_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.create_foreign_key("fk_events_actor_user_id_users", "users", ["actor_user_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_events_actor_user_id_users", type_="foreignkey")
        batch_op.drop_column("actor_user_id")
