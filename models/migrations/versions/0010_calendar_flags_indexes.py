"""The console at network scale: the calendar and the flag filter read projections, the patient list reads indexes.

- `calendar_items`: one row per session and appointment (start indexed), kept on every apply; the calendar reads one
  day of it instead of decoding every workflow's state. Back-filled here from the workflows' state documents.
- `workflow_flags`: the state's flags with their expiry, so "elevated risk" is a filter in SQL. Back-filled likewise.
- `ix_workflows_updated_at_id`: the patient list's order.
- `ix_patients_name_trgm` (PostgreSQL): a pg_trgm GIN index for the name search (ILIKE '%…%'); the extension is
  created if this role may. Where it may not, the index is skipped and the search still works, unindexed. On SQLite it
  is a plain index (the model's PostgreSQL options do not apply there).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None
log = logging.getLogger("alembic.runtime.migration")
BATCH = 2000  # workflows read per round of the back-fill: memory stays flat on a big database


def upgrade() -> None:
    _create_calendar_items()
    _create_workflow_flags()
    op.create_index("ix_workflows_updated_at_id", "workflows", ["updated_at", "id"])
    _create_name_index()
    _backfill()


def _create_calendar_items() -> None:
    op.create_table(
        "calendar_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("start", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("item", models.types.JSONDocument, nullable=False),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflows.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "kind", "item_id", name="uq_calendar_items_workflow_item"),
    )
    op.create_index("ix_calendar_items_workflow_id", "calendar_items", ["workflow_id"])
    op.create_index("ix_calendar_items_start", "calendar_items", ["start"])


def _create_workflow_flags() -> None:
    op.create_table(
        "workflow_flags",
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("flag", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("until", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["workflow_id"], ["workflows.id"]),
        sa.PrimaryKeyConstraint("workflow_id", "flag"),
    )
    op.create_index("ix_workflow_flags_flag_until", "workflow_flags", ["flag", "until"])


def _create_name_index() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.create_index("ix_patients_name_trgm", "patients", ["name"])
        return
    # A savepoint: a role that may not create extensions fails here without aborting the migration's transaction.
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        log.warning("pg_trgm could not be created: the name search works, without its index (ask a superuser)")
        return
    op.create_index("ix_patients_name_trgm", "patients", ["name"], postgresql_using="gin",
                    postgresql_ops={"name": "gin_trgm_ops"})


def _backfill() -> None:
    """Every session and appointment, and every flag, of the workflows already stored, as the projections write them."""
    bind = op.get_bind()
    meta = sa.MetaData()
    workflows = sa.Table("workflows", meta, sa.Column("id", sa.String), sa.Column("state", models.types.JSONDocument))
    items = sa.Table("calendar_items", meta, sa.Column("workflow_id"), sa.Column("kind"), sa.Column("item_id"),
                     sa.Column("start", models.types.UTCDateTime()), sa.Column("status"),
                     sa.Column("item", models.types.JSONDocument))
    flags = sa.Table("workflow_flags", meta, sa.Column("workflow_id"), sa.Column("flag"),
                     sa.Column("until", models.types.UTCDateTime()))
    after = ""
    while True:
        rows = bind.execute(sa.select(workflows.c.id, workflows.c.state).where(workflows.c.id > after)
                            .order_by(workflows.c.id).limit(BATCH)).all()
        if not rows:
            return
        item_rows = [row for workflow_id, state in rows for row in _calendar_rows(workflow_id, state or {})]
        flag_rows = [row for workflow_id, state in rows for row in _flag_rows(workflow_id, state or {})]
        if item_rows:
            bind.execute(items.insert(), item_rows)
        if flag_rows:
            bind.execute(flags.insert(), flag_rows)
        after = rows[-1][0]


def _calendar_rows(workflow_id: str, state: dict) -> list[dict]:
    found = [("session", raw) for raw in (state.get("sessions") or {}).values()]
    found += [(raw.get("kind", "therapy"), raw) for raw in (state.get("appointments") or {}).values()]
    return [{"workflow_id": workflow_id, "kind": kind, "item_id": raw["id"], "start": _moment(raw["start"]),
             "status": raw.get("status", "scheduled"), "item": raw} for kind, raw in found]


def _flag_rows(workflow_id: str, state: dict) -> list[dict]:
    return [{"workflow_id": workflow_id, "flag": flag, "until": _moment(until) if until else None}
            for flag, until in (state.get("flags") or {}).items()]


def _moment(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def downgrade() -> None:
    op.drop_index("ix_patients_name_trgm", table_name="patients", if_exists=True)
    op.drop_index("ix_workflows_updated_at_id", table_name="workflows")
    op.drop_index("ix_workflow_flags_flag_until", table_name="workflow_flags")
    op.drop_table("workflow_flags")
    op.drop_index("ix_calendar_items_start", table_name="calendar_items")
    op.drop_index("ix_calendar_items_workflow_id", table_name="calendar_items")
    op.drop_table("calendar_items")
