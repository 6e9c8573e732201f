"""Phone numbers as records (consent and deliverability per number), and answers and emergencies without a patient.

`phone_numbers` holds what is known against a number (opted out, undeliverable); the numbers of patients already
opted out are carried over. `outbox.workflow_id` and `escalations.workflow_id`/`patient_id` may be empty: the crisis
line and the emergency raised for a number carepath does not know, and the one acknowledgement a shared number gets
for a text staff must assign. `escalations.inbox_id` names the text that raised such an emergency.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    numbers = op.create_table(
        "phone_numbers",
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("opted_out_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opted_out_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("undeliverable", sa.Boolean(), nullable=False),
        sa.Column("undeliverable_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undeliverable_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("updated_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("workflow_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True)
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.alter_column("workflow_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True)
        batch_op.alter_column("patient_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True)
        batch_op.add_column(sa.Column("inbox_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.create_foreign_key("fk_escalations_inbox_id_inbox", "inbox", ["inbox_id"], ["id"])
    # A patient who said STOP before numbers were records: the number itself is opted out now, for everyone on it.
    connection = op.get_bind()
    opted_out = connection.execute(sa.text("SELECT DISTINCT phone FROM patients WHERE opted_out")).scalars().all()
    now = datetime.now(UTC)
    if opted_out:
        op.bulk_insert(numbers, [{"phone": phone, "opted_out": True, "opted_out_at": now, "opted_out_by": None,
                                  "undeliverable": False, "updated_at": now} for phone in opted_out])


def downgrade() -> None:
    connection = op.get_bind()
    connection.execute(sa.text("DELETE FROM escalations WHERE workflow_id IS NULL OR patient_id IS NULL"))
    connection.execute(sa.text("DELETE FROM outbox WHERE workflow_id IS NULL"))
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_constraint("fk_escalations_inbox_id_inbox", type_="foreignkey")
        batch_op.drop_column("inbox_id")
        batch_op.alter_column("patient_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False)
        batch_op.alter_column("workflow_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("workflow_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False)
    op.drop_table("phone_numbers")
