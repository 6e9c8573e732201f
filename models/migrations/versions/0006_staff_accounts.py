"""Staff accounts, sessions, API tokens and the audit trail.

`users` gets an email, an argon2id password hash (a temporary one must be changed at the next sign-in) and a TOTP
second factor; its single token moves to `api_tokens` (named, with a role and an expiry: the tokens of before are
kept, as "token from before accounts", expiring 90 days from this migration). `staff_sessions` are signed-in browsers
(hashed ids). `audit_log` is append-only: a trigger refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_TOKENS_LAST_DAYS = 90
REFUSAL = "audit_log is append-only: entries are never updated or deleted"


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when() -> models.types.UTCDateTime:
    return models.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    tokens = op.create_table(
        "api_tokens",
        sa.Column("id", _string(36), nullable=False),
        sa.Column("user_id", _string(36), nullable=False),
        sa.Column("name", _string(100), nullable=False),
        sa.Column("role", _string(16), nullable=False),
        sa.Column("token_hash", _string(64), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("expires_at", _when(), nullable=False),
        sa.Column("revoked_at", _when(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "staff_sessions",
        sa.Column("id", _string(36), nullable=False),
        sa.Column("token_hash", _string(64), nullable=False),
        sa.Column("user_id", _string(36), nullable=False),
        sa.Column("stage", _string(16), nullable=False),
        sa.Column("method", _string(16), nullable=False),
        sa.Column("csrf_token", _string(64), nullable=False),
        sa.Column("pending_secret", _string(64), nullable=True),
        sa.Column("address", _string(64), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("last_seen_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_staff_sessions_user_id", "staff_sessions", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("action", _string(32), nullable=False),
        sa.Column("user_id", _string(36), nullable=True),
        sa.Column("patient_id", _string(36), nullable=True),
        sa.Column("workflow_id", _string(36), nullable=True),
        sa.Column("target_id", _string(36), nullable=True),
        sa.Column("route", _string(200), nullable=True),
        sa.Column("method", _string(8), nullable=True),
        sa.Column("address", _string(64), nullable=True),
        sa.Column("detail", _string(200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_user_at", "audit_log", ["user_id", "at"])
    op.create_index("ix_audit_log_patient_at", "audit_log", ["patient_id", "at"])
    op.create_index("ix_audit_log_address_at", "audit_log", ["address", "at"])
    _refuse_changes_to_the_audit_log()

    # Every user's token becomes a named token with an expiry.
    connection = op.get_bind()
    now = datetime.now(UTC)
    users = sa.table("users", sa.column("id"), sa.column("role"), sa.column("token_hash"))
    old = connection.execute(sa.select(users.c.id, users.c.role, users.c.token_hash)).all()
    if old:
        op.bulk_insert(tokens, [{"id": str(uuid.uuid4()), "user_id": user_id, "name": "token from before accounts",
                                 "role": role, "token_hash": token_hash, "created_at": now,
                                 "expires_at": now + timedelta(days=OLD_TOKENS_LAST_DAYS), "revoked_at": None}
                                for user_id, role, token_hash in old])

    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", _string(254), nullable=True))
        batch.add_column(sa.Column("password_hash", _string(200), nullable=True))
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("password_changed_at", _when(), nullable=True))
        batch.add_column(sa.Column("totp_secret", _string(64), nullable=True))
        batch.add_column(sa.Column("totp_enrolled_at", _when(), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch.create_unique_constraint("uq_users_email", ["email"])
        if (named := _token_hash_constraint(connection)) is not None:
            batch.drop_constraint(named, type_="unique")
        batch.drop_column("token_hash")  # on SQLite the table is rebuilt without it (and its unnamed constraint)


def _token_hash_constraint(connection) -> str | None:
    """The name the database gave users.token_hash's unique constraint in 0003 (PostgreSQL names it; SQLite not)."""
    for constraint in sa.inspect(connection).get_unique_constraints("users"):
        if constraint["column_names"] == ["token_hash"] and constraint["name"]:
            return constraint["name"]
    return None


def _refuse_changes_to_the_audit_log() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL}';
            END
            $$""")
        op.execute("CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")


def downgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_hash", _string(64), nullable=True))
    # Each user keeps the hash of their newest token (a random one, which no token matches, when they have none).
    users = sa.table("users", sa.column("id"), sa.column("token_hash"))
    tokens = sa.table("api_tokens", sa.column("user_id"), sa.column("token_hash"), sa.column("created_at"))
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        newest = connection.execute(sa.select(tokens.c.token_hash).where(tokens.c.user_id == user_id)
                                    .order_by(tokens.c.created_at.desc()).limit(1)).scalar()
        connection.execute(users.update().where(users.c.id == user_id)
                           .values(token_hash=newest or secrets.token_hex(32)))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("token_hash", existing_type=_string(64), nullable=False)
        batch.create_unique_constraint("uq_users_token_hash", ["token_hash"])
        batch.drop_constraint("uq_users_email", type_="unique")
        for column in ("totp_last_step", "totp_enrolled_at", "totp_secret", "password_changed_at",
                       "must_change_password", "password_hash", "email"):
            batch.drop_column(column)
    if connection.dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_no_update_or_delete ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute("DROP TRIGGER audit_log_no_delete")
    for index in ("ix_audit_log_address_at", "ix_audit_log_patient_at", "ix_audit_log_user_at", "ix_audit_log_at"):
        op.drop_index(index, table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_staff_sessions_user_id", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
