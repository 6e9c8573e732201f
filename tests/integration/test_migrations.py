"""The Alembic migrations, run through the real `alembic` command line, on PostgreSQL and on a SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import models.tables  # noqa: F401 - registers the tables on SQLModel.metadata

REPO = Path(__file__).resolve().parents[2]
ALEMBIC = Path(sys.executable).with_name("alembic")
TABLES = {"patients", "workflows", "events", "sessions", "assessments", "timers", "outbox", "escalations", "users", "inbox",
          "phone_numbers", "message_receipts", "api_tokens", "staff_sessions", "audit_log", "calendar_items",
          "workflow_flags"}


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def migration_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("fresh_postgres_url")
    return f"sqlite:///{tmp_path / 'migrations.sqlite3'}"


def alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CAREPATH_DATABASE_URL"}
    done = subprocess.run([str(ALEMBIC), "-x", f"url={url}", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, f"alembic {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_differences(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            # What `alembic revision --autogenerate` / `alembic check` compare with this env.py: tables, columns,
            # types, nullability, indexes and constraints.
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_models_and_downgrade_base_empties(migration_url: str) -> None:
    alembic(migration_url, "upgrade", "head")
    assert table_names(migration_url) == TABLES | {"alembic_version"}
    assert schema_differences(migration_url) == []

    alembic(migration_url, "downgrade", "base")
    assert table_names(migration_url) == {"alembic_version"}
