"""The unit of work: one database transaction that rolls back unless it is committed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Session

T = TypeVar("T")
log = logging.getLogger("carepath.unit_of_work")


class _Session(Session):
    """A session that notes in `info["wrote"]` whether it sent anything but a SELECT (listeners below, set once)."""


@event.listens_for(_Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if not state.is_select:
        state.session.info["wrote"] = True


@event.listens_for(_Session, "after_flush")
def _note_flush(session: Session, _context: object) -> None:
    session.info["wrote"] = True


class UnitOfWork:
    """`with UnitOfWork(engine) as uow: …; uow.commit()`: everything in the block is one transaction, or nothing.

    Leaving the block without `commit()` (an exception, an early return, a refusal) rolls back: the default is that
    nothing is written. Rows read stay usable after the commit (no re-SELECT to read an id afterwards).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.db: Session | None = None
        self.committed = False
        self.commit_sent = False
        self._after_commit: list[Callable[[], object]] = []

    def __enter__(self) -> UnitOfWork:
        self.db = _Session(self.engine, expire_on_commit=False)
        self.committed = self.commit_sent = False
        self._after_commit = []
        return self

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run `callback` right after this unit of work commits (handing what it wrote to Celery), never if it rolls
        back or is left uncommitted. A callback that fails is logged and the others still run: the transaction is
        committed by then, and whatever the callback would have handed on is found by the sweep instead.

        Registered inside a savepoint that is then rolled back, the callback still runs at the commit: register after
        the savepoint is released (or make the callback harmless for rows that are not there)."""
        assert self.db is not None, "after_commit() outside the `with` block"
        self._after_commit.append(callback)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self.db is not None
        try:
            if self.committed:
                pass
            elif exc_type is None and not self._wrote():
                # Read only: COMMIT ends it as well as ROLLBACK would, and psycopg answers a ROLLBACK by discarding every
                # prepared statement of the connection (DEALLOCATE ALL: a round trip, and each statement parsed again).
                self.db.commit()
            else:
                self.db.rollback()
        finally:
            self.db.close()
            self.db = None
            self._after_commit = []

    def _wrote(self) -> bool:
        db = self.db
        return bool(db.info.get("wrote") or db.new or db.dirty or db.deleted)

    def commit(self) -> None:
        assert self.db is not None, "commit() outside the `with` block"
        self.commit_sent = True  # from here on a lost connection leaves it unknown whether the transaction committed
        self.db.commit()
        self.committed = True
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:  # noqa: BLE001 - committed already; the sweep picks up what was not handed on
                # The exception's type only: its message could quote a row's contents.
                log.warning("after-commit callback %s failed (%s)", getattr(callback, "__qualname__", "?"),
                            type(exc).__name__)

    def rollback(self) -> None:
        assert self.db is not None, "rollback() outside the `with` block"
        self.db.rollback()


def run_committed(engine: Engine, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one store operation (`operation(uow, *args)`) in a unit of work of its own, and commit it."""
    with UnitOfWork(engine) as uow:
        result = operation(uow, *args, **kwargs)
        uow.commit()
        return result
