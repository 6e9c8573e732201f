"""Sending a unit of work's statements together: psycopg 3 pipeline mode under SQLAlchemy Core.

On PostgreSQL `send_together` queues every statement in one pipeline and waits once, after the last: one round trip
for all of them (and for the BEGIN psycopg puts in front when the transaction starts with them). The statements still
go through SQLAlchemy (compiled and cached, its events and error wrapping as for any other statement); only the last
one's result (rows, rowcount) is read, so the ones before it must need no result. A statement that fails fails the
call, naming the first error; the statements after it were skipped by the server.

SQLite has no pipeline: the statements run one after another, in process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Connection, CursorResult, Executable, Table, TextClause, bindparam, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.types import TypeDecorator

Statement = tuple[Executable, dict[str, Any]]

# The execution option carrying the open pipeline to the statement that ends it (the bench counts round trips by it).
ENDS_PIPELINE = "carepath_ends_pipeline"


@event.listens_for(PGDialect_psycopg, "do_execute")
def _end_pipeline_after(cursor, statement, parameters, context) -> bool | None:
    """The last statement of a pipeline: send it, then the Sync, and take every result before SQLAlchemy reads this
    statement's (its rows, its rowcount). Inside SQLAlchemy's execution, so a failure is wrapped (IntegrityError,
    a dropped connection invalidated) like any other statement's."""
    pipeline = context.execution_options.get(ENDS_PIPELINE)
    if pipeline is None:
        return None  # any other statement: the dialect's own execute
    cursor.execute(statement, parameters)
    pipeline.__exit__(None, None, None)  # Sync, wait, leave pipeline mode; raises the first failure
    return True


class JSONText(TypeDecorator):
    """A JSON document already serialised (pydantic's `model_dump_json`, in Rust): bound as the text it is, into a
    JSON column (JSONB on PostgreSQL), instead of a dict serialised again by `json.dumps`."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def bind_processor(self, dialect):
        return None


def compiled_once(statement: Executable, table: Table, dialect_name: str) -> TextClause:
    """`statement` as text with the same typed parameters (named after `table`'s columns), for the statements whose
    compiled form SQLAlchemy does not cache (a dialect's INSERT … ON CONFLICT has no cache key, so each execution
    compiled it again: a third of the event path's CPU). Text is cached like any statement."""
    dialect = (postgresql if dialect_name == "postgresql" else sqlite).dialect(paramstyle="named")
    sql = re.sub(r":(\w+)::(\w+)", r"CAST(:\1 AS \2)", str(statement.compile(dialect=dialect)))
    named = set(re.findall(r"(?<![:\w]):(\w+)", sql))
    return text(sql).bindparams(*(bindparam(column.key, type_=column.type) for column in table.c if column.key in named))


def pipelines(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def send_together(conn: Connection, statements: Sequence[Statement]) -> CursorResult:
    """Execute `statements` in order, in one round trip on PostgreSQL; returns the last one's result."""
    *before, (last, last_params) = statements
    if not pipelines(conn):
        for statement, params in before:
            conn.execute(statement, params)
        return conn.execute(last, last_params)
    pipeline_mode = conn.connection.driver_connection.pipeline()  # psycopg's context manager
    pipeline = pipeline_mode.__enter__()
    try:
        for statement, params in before:
            conn.execute(statement, params)
        return conn.execute(last, last_params, execution_options={ENDS_PIPELINE: pipeline_mode})
    except BaseException as exc:
        if pipeline.level:  # failed before the last statement was sent: leave pipeline mode all the same
            pipeline_mode.__exit__(type(exc), exc, exc.__traceback__)
        raise
