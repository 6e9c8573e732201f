"""Engines for SQLite and PostgreSQL, and migrating a database to the current schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_URL = "sqlite:///carepath.db"
POOL_RECYCLE_SECONDS = 300


def make_engine(url: str = DEFAULT_URL, pre_ping: bool = True) -> Engine:
    """An engine tuned for its backend: SQLite waits for the writer lock instead of failing at once.

    `pre_ping=False` (the workers' and the scheduler's engines, `CAREPATH_DATABASE_PRE_PING`): no round trip on every
    checkout, at the price of one failed statement per process after a database restart, which their retries and the
    sweep absorb. The API keeps the ping, so no page fails once after a restart."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # hide_parameters: a database error's message (which gets logged) must not quote patients' names or phones.
    # Without the pre-ping, a connection the server dropped fails its first statement instead: SQLAlchemy then replaces
    # every pooled connection, and `WorkflowStore` retries what is safe to retry. `pool_recycle` retires connections
    # before a firewall's or server's idle timeout closes them.
    return create_engine(url, pool_pre_ping=pre_ping, pool_recycle=POOL_RECYCLE_SECONDS, pool_size=10, max_overflow=10,
                         hide_parameters=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (dashboard) do not block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (the newest schema by default)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
