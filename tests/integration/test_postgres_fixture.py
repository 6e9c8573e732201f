"""The database fixtures in tests/conftest.py give empty, isolated, throwaway databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, inspect, select, text

_seen: dict[str, str] = {}


def _roundtrip(url: str) -> list[tuple[int, str]]:
    engine = create_engine(url)
    try:
        assert inspect(engine).get_table_names() == [], "database should start empty"
        metadata = MetaData()
        patients = Table(
            "fixture_probe",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("name", String(50), nullable=False),
        )
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(patients), [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}])
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(select(patients).order_by(patients.c.id))]
    finally:
        engine.dispose()


def test_database_url_roundtrip(database_url: str) -> None:
    assert _roundtrip(database_url) == [(1, "alpha"), (2, "beta")]


def test_postgres_database_url_is_a_throwaway_database(postgres_database_url: str) -> None:
    assert postgres_database_url.startswith("postgresql+psycopg://")
    engine = create_engine(postgres_database_url)
    try:
        with engine.connect() as conn:
            name = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.execute(text("CREATE TEMP TABLE scratch (x int)"))
            conn.execute(text("INSERT INTO scratch VALUES (42)"))
            assert conn.execute(text("SELECT x FROM scratch")).scalar_one() == 42
    finally:
        engine.dispose()
    assert name.startswith("carepath_test_")


def test_fresh_postgres_url_is_new_and_empty(fresh_postgres_url: str, postgres_database_url: str) -> None:
    assert fresh_postgres_url != postgres_database_url
    assert _roundtrip(fresh_postgres_url) == [(1, "alpha"), (2, "beta")]
    _seen["fresh"] = fresh_postgres_url.rsplit("/", 1)[-1]


def test_fresh_postgres_database_was_dropped(postgres_server_url: str) -> None:
    if "fresh" not in _seen:
        pytest.skip("runs after test_fresh_postgres_url_is_new_and_empty")
    engine = create_engine(postgres_server_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": _seen["fresh"]}
            ).scalar_one()
    finally:
        engine.dispose()
    assert found == 0
