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
          "workflow_flags", "clinics"}


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


def test_0010_back_fills_the_calendar_and_the_flags_of_an_existing_database(migration_url: str) -> None:
    """A database with workflows from before 0010: upgrading gives the calendar and flag rows the projections would."""
    from pathway_support import CLINIC, DAY, PHQ9_ITEM9, PROTOCOLS, T0, ev, hours, to_treatment_planned

    from models.db import make_engine
    from models.store import WorkflowStore

    alembic(migration_url, "upgrade", "head")
    engine = make_engine(migration_url)
    try:
        pathway = WorkflowStore(engine, PROTOCOLS, CLINIC)
        workflow_id = to_treatment_planned(pathway)
        for event, at in [(ev("session.scheduled", {"session": "s1", "start": T0 + 5 * DAY}), T0 + DAY + hours(1)),
                          (ev("session.scheduled", {"session": "s2", "start": T0 + 7 * DAY}), T0 + DAY + hours(1)),
                          (ev("session.rescheduled", {"session": "s2", "start": T0 + 8 * DAY}), T0 + DAY + hours(2)),
                          (ev("session.cancelled", {"session": "s1"}), T0 + DAY + hours(3)),
                          (ev("assessment.submitted", {"instrument": "phq9", "answers": PHQ9_ITEM9}), T0 + DAY + hours(4))]:
            pathway.apply(workflow_id, event, at)
        projected = projection_rows(engine)
        assert {(kind, item, status) for kind, item, _start, status, _flag in projected["calendar_items"]} == {
            ("evaluation", "evaluation", "completed"), ("session", "s1", "cancelled"), ("session", "s2", "scheduled")}
        assert [flag for *_, flag in projected["workflow_flags"]] == ["elevated_risk"]
    finally:
        engine.dispose()

    alembic(migration_url, "downgrade", "0009")  # the database as it was before 0010: no such rows anywhere
    assert not {"calendar_items", "workflow_flags"} & table_names(migration_url)
    alembic(migration_url, "upgrade", "head")
    engine = make_engine(migration_url)
    try:
        assert projection_rows(engine) == projected
    finally:
        engine.dispose()


def projection_rows(engine) -> dict[str, list[tuple]]:
    from sqlmodel import Session, select

    from models.tables import CalendarItemRecord, WorkflowFlag

    with Session(engine) as db:
        items = db.execute(select(CalendarItemRecord.kind, CalendarItemRecord.item_id, CalendarItemRecord.start,
                                  CalendarItemRecord.status, CalendarItemRecord.item)
                           .order_by(CalendarItemRecord.kind, CalendarItemRecord.item_id)).all()
        flags = db.execute(select(WorkflowFlag.workflow_id, WorkflowFlag.until, WorkflowFlag.flag)
                           .order_by(WorkflowFlag.flag)).all()
    return {"calendar_items": [tuple(row) for row in items], "workflow_flags": [tuple(row) for row in flags]}


def test_0014_keeps_older_timers_without_a_cause_and_new_ones_name_the_event_that_set_them(migration_url: str) -> None:
    """Timers scheduled before 0014 survive the upgrade with no recorded cause; after it, each new timer names the
    event that scheduled it; downgrading to 0013 drops the column and keeps the timers."""
    from pathway_support import CLINIC, DAY, PROTOCOLS, T0, ev, hours, to_treatment_planned
    from sqlalchemy import text

    from models.db import make_engine
    from models.store import WorkflowStore

    alembic(migration_url, "upgrade", "head")
    engine = make_engine(migration_url)
    try:
        pathway = WorkflowStore(engine, PROTOCOLS, CLINIC)
        workflow_id = to_treatment_planned(pathway)
        pathway.apply(workflow_id, ev("session.scheduled", {"session": "s1", "start": T0 + 5 * DAY}), T0 + DAY)
    finally:
        engine.dispose()

    alembic(migration_url, "downgrade", "0013")
    engine = create_engine(migration_url)
    try:
        assert "event_id" not in {c["name"] for c in inspect(engine).get_columns("timers")}
        with engine.connect() as conn:
            before = conn.execute(text("SELECT count(*) FROM timers")).scalar_one()
    finally:
        engine.dispose()
    assert before > 0

    alembic(migration_url, "upgrade", "head")
    engine = make_engine(migration_url)
    try:
        with engine.connect() as conn:
            old = conn.execute(text("SELECT event_id FROM timers")).scalars().all()
        assert len(old) == before and set(old) == {None}, "older timers: no recorded cause, none lost"
        pathway = WorkflowStore(engine, PROTOCOLS, CLINIC)
        outcome = pathway.apply(workflow_id, ev("session.rescheduled", {"session": "s1", "start": T0 + 6 * DAY}),
                                T0 + DAY + hours(1))
        with engine.connect() as conn:
            newest = conn.execute(text("SELECT max(id) FROM events")).scalar_one()
            caused = conn.execute(text("SELECT DISTINCT event_id FROM timers WHERE status = 'pending' "
                                             "AND session_key = 's1'")).scalars().all()
        assert outcome.event_id == newest and caused == [newest], "the rescheduled session's timers name the move"
    finally:
        engine.dispose()
