"""The inbox: every inbound text stored on arrival (keyed by MessageSid), applied to a workflow after; and delivery
receipts, each (MessageSid, status) recorded once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("from_phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("to_phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("crisis", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("applied_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("reading", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflows.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_id"),
    )
    op.create_index("ix_inbox_from_phone", "inbox", ["from_phone"])
    op.create_index("ix_inbox_status", "inbox", ["status"])
    op.create_index("ix_inbox_workflow_id", "inbox", ["workflow_id"])
    op.create_index("ix_inbox_pending", "inbox", ["received_at"], postgresql_where=sa.text("status = 'pending'"),
                    sqlite_where=sa.text("status = 'pending'"))
    op.create_table(
        "message_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("received_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_id", "status", name="uq_message_receipts_sid_status"),
    )
    op.create_index("ix_message_receipts_message_id", "message_receipts", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_message_receipts_message_id", table_name="message_receipts")
    op.drop_table("message_receipts")
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.drop_index("ix_inbox_workflow_id", table_name="inbox")
    op.drop_index("ix_inbox_status", table_name="inbox")
    op.drop_index("ix_inbox_from_phone", table_name="inbox")
    op.drop_table("inbox")
