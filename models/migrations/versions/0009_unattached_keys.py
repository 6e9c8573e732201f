"""Items with no workflow (an unknown number's emergency) remember the idempotency key that took and closed them.

Such an item has no history for a repeated key to be found in; with these, the same claim or resolve sent twice is
applied once and the second call gets the first result, as for every event.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("resolved_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_column("resolved_key")
        batch_op.drop_column("acknowledged_key")
