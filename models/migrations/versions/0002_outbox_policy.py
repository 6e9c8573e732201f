"""Outbox columns for send-time policy: automated, subject, subject_start, expires_at.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("automated", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("subject", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("subject_start", models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expires_at", models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("subject_start")
        batch_op.drop_column("subject")
        batch_op.drop_column("automated")
