"""Fixtures for the database integration tests: a migrated database and the unit of work on top of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pathway_support import CLINIC, PROTOCOLS
from sqlalchemy import Engine

from models.db import make_engine, migrate
from models.store import WorkflowStore


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A database migrated to the newest schema, once on SQLite and once on PostgreSQL."""
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def pathway(engine: Engine) -> WorkflowStore:
    return WorkflowStore(engine, PROTOCOLS, CLINIC)
