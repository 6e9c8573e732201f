"""The unit of work: one database transaction that rolls back unless it is committed."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

T = TypeVar("T")


class UnitOfWork:
    """`with UnitOfWork(engine) as uow: …; uow.commit()`: everything in the block is one transaction, or nothing.

    Leaving the block without `commit()` (an exception, an early return, a refusal) rolls back: the default is that
    nothing is written. Rows read stay usable after the commit (no re-SELECT to read an id afterwards).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.db: Session | None = None
        self.committed = False

    def __enter__(self) -> UnitOfWork:
        self.db = Session(self.engine, expire_on_commit=False)
        self.committed = False
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self.db is not None
        try:
            if not self.committed:
                self.db.rollback()
        finally:
            self.db.close()
            self.db = None

    def commit(self) -> None:
        assert self.db is not None, "commit() outside the `with` block"
        self.db.commit()
        self.committed = True

    def rollback(self) -> None:
        assert self.db is not None, "rollback() outside the `with` block"
        self.db.rollback()


def run_committed(engine: Engine, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one store operation (`operation(uow, *args)`) in a unit of work of its own, and commit it."""
    with UnitOfWork(engine) as uow:
        result = operation(uow, *args, **kwargs)
        uow.commit()
        return result
