"""Staff roles per clinic: `users.clinic_roles`, the role an account holds at a clinic where it is not `users.role`.

Every existing account keeps its one role at all its clinics (the column is empty), so nothing changes for them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import JSONDocument

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clinic_roles", JSONDocument, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("clinic_roles")
