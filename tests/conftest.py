"""Shared pytest fixtures: throwaway SQLite and PostgreSQL databases.

PostgreSQL is reached through ``CAREPATH_TEST_POSTGRES_URL`` (a SQLAlchemy URL,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``). Every
database the fixtures create is named ``carepath_test_<pid>_<hex>``, starts
empty (copied from ``template0``) and is dropped ``WITH (FORCE)`` afterwards.
When the server is unreachable the PostgreSQL tests skip, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from config import wiring

# As every entry point does at start: tasks run in this process (inline mode) build their services from CAREPATH_*.
wiring.install()

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POSTGRES_DRIVER = "postgresql+psycopg"
CONNECT_TIMEOUT_SECONDS = 3


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _pg_url(url: str) -> URL:
    return make_url(url).set(drivername=POSTGRES_DRIVER)


def _connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a psycopg connection from a SQLAlchemy-style URL."""
    u = _pg_url(url)
    params: dict[str, Any] = {
        key: value
        for key, value in {
            "host": u.host,
            "port": u.port,
            "user": u.username,
            "password": u.password,
            "dbname": u.database,
        }.items()
        if value is not None
    }
    for key, value in u.query.items():  # e.g. ?sslmode=disable
        params[key] = value[-1] if isinstance(value, tuple) else value
    params["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return psycopg.connect(autocommit=autocommit, **params)


@contextmanager
def _throwaway_database(server_url: str) -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"carepath_test_{os.getpid()}_{secrets.token_hex(4)}"
    ident = sql.Identifier(name)
    with _connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident))
    try:
        yield _pg_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with _connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the PostgreSQL server's maintenance database; skips (fails in CI) if unreachable."""
    url = os.environ.get("CAREPATH_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        with _connect(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        shown = _pg_url(url).render_as_string(hide_password=True)
        reason = f"PostgreSQL is not reachable at {shown}: {' '.join(str(exc).split())}"
        if _in_ci():
            pytest.fail(
                f"{reason}\nCI=true requires PostgreSQL; run scripts/ensure-services "
                "or set CAREPATH_TEST_POSTGRES_URL.",
                pytrace=False,
            )
        pytest.skip(reason)
    return _pg_url(url).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """One empty PostgreSQL database shared by the whole test session."""
    with _throwaway_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A brand-new empty PostgreSQL database for this test only (e.g. migrations)."""
    with _throwaway_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def sqlite_database_url(tmp_path) -> str:
    """A SQLite database file in this test's tmp_path."""
    return f"sqlite:///{tmp_path / 'carepath.sqlite3'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database for this test, once on SQLite and once on PostgreSQL."""
    if request.param == "postgres":
        return request.getfixturevalue("fresh_postgres_url")
    return request.getfixturevalue("sqlite_database_url")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that use the PostgreSQL fixtures directly get the ``postgres`` marker too."""
    for item in items:
        if "postgres_server_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
