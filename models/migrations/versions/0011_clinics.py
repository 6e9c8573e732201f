"""A network of clinics: the clinics table, and the clinic every record belongs to.

An existing single-clinic database migrates into one clinic, "main": every row gets `clinic_id = 'main'` (the column's
server default) and workflow states without a clinic read as "main" too, so nothing is lost or moved. The row for
"main" itself is written at start from the settings (`config.clinics.ensure_clinics`), where its name and numbers are.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from models.types import JSONDocument, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = ("patients", "workflows", "timers", "outbox", "inbox", "escalations")


def upgrade() -> None:
    op.create_table(
        "clinics",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("definition", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("clinic_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False,
                                          server_default="main"))
            batch_op.create_index(f"ix_{table}_clinic_id", ["clinic_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:  # None: every clinic, as every account so far
        batch_op.add_column(sa.Column("clinics", JSONDocument, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("clinics")
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_clinic_id")
            batch_op.drop_column("clinic_id")
    op.drop_table("clinics")
