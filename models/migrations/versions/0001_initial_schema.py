"""Initial schema: patients, workflows, the event history, sessions, assessments, timers, outbox, escalations.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "patients",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("sms_consent", sa.Boolean(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patients_phone"), ["phone"], unique=False)

    op.create_table(
        "workflows",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("patient_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("protocol_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("start_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("state", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("start_key"),
    )
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflows_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_workflows_stage"), ["stage"], unique=False)

    op.create_table(
        "escalations",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("patient_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("owner_role", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("session_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("raised_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ack_deadline", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("resolved_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalations_severity"), ["severity"], unique=False)
        batch_op.create_index(batch_op.f("ix_escalations_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_escalations_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("actor_role", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("actor_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("occurred_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stage_after", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "idempotency_key", name="uq_events_workflow_idempotency"),
        sa.UniqueConstraint("workflow_id", "seq", name="uq_events_workflow_seq"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_type"), ["type"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("session_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("route", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("series", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("start", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dose_mg", sa.Integer(), nullable=True),
        sa.Column("dose_mg_per_kg", sa.Float(), nullable=True),
        sa.Column("dosed_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("discharged_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "session_key", name="uq_sessions_workflow_key"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_start"), ["start"], unique=False)
        batch_op.create_index(batch_op.f("ix_sessions_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_sessions_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "timers",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("session_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("due_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fired_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_timers_pending_due",
            ["due_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index("ix_timers_workflow_key", ["workflow_id", "key"], unique=False)

    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("instrument", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("band", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("risk", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("flags", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessments_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("to_phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("drop_reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("session_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("escalation_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("not_before", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending_due",
            ["not_before"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(batch_op.f("ix_outbox_workflow_id"), ["workflow_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_workflow_id"))
        batch_op.drop_index(
            "ix_outbox_pending_due", postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")
        )

    op.drop_table("outbox")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessments_workflow_id"))

    op.drop_table("assessments")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_workflow_key")
        batch_op.drop_index(
            "ix_timers_pending_due", postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")
        )

    op.drop_table("timers")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_sessions_status"))
        batch_op.drop_index(batch_op.f("ix_sessions_start"))

    op.drop_table("sessions")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_events_type"))

    op.drop_table("events")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalations_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_escalations_status"))
        batch_op.drop_index(batch_op.f("ix_escalations_severity"))

    op.drop_table("escalations")
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflows_stage"))
        batch_op.drop_index(batch_op.f("ix_workflows_patient_id"))

    op.drop_table("workflows")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patients_phone"))

    op.drop_table("patients")
