"""Claiming due timers and turning each into an event, one at a time (`models/timer_batch.py` fires them in batches:
the scheduler's workers and the simulator go through it).

Row operations write into the caller's unit of work and leave the commit to it; firing applies the timer's event
through the workflow store, in a unit of work of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import ARRAY, Integer, String, any_, bindparam, func, insert, select, update

from models.store import WorkflowStore
from models.tables import TimerRecord
from models.unit_of_work import UnitOfWork
from workflows.pathway import timer_event
from workflows.state import Timer

# One claim round trip takes this many timers: large enough that per-row work dominates, small enough that a
# crashed scheduler strands few timers until the sweeper frees them.
CLAIM_BATCH = 500
# A fired timer can conflict with a person's event on the same workflow; re-deciding on fresh state settles it.
FIRE_RETRIES = 5


@dataclass(frozen=True)
class ClaimedTimer:
    id: str
    workflow_id: str
    key: str
    timer: Timer


def claim_due_timers(uow: UnitOfWork, now: datetime, limit: int = CLAIM_BATCH) -> list[ClaimedTimer]:
    """Atomically move up to `limit` due pending timers to `claimed`; concurrent claimers never get the same row."""
    rows = uow.db.execute(_CLAIM, {"now": now, "limit": limit}, execution_options={"synchronize_session": False}).all()
    return sorted(map(claimed_from_row, rows), key=lambda c: (c.timer.due_at, c.key))


def _claim_statement():
    """Built once, with `now` and `limit` bound per call (the scheduler claims every second, mostly finding nothing)."""
    due = (
        select(TimerRecord.id)
        .where(TimerRecord.status == "pending", TimerRecord.due_at <= bindparam("now"))
        .order_by(TimerRecord.due_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)  # PostgreSQL: skip rows another scheduler is claiming; SQLite ignores it
        # Materialized, so the locking subquery runs once. As a plain `IN (subquery)` PostgreSQL may plan a nested-loop
        # semi join that re-runs it per outer row; each re-run skips the rows this statement already updated and locks
        # the next `limit`, so one claim took every due timer, whatever the limit.
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        update(TimerRecord)
        .where(TimerRecord.id.in_(select(due.c.id)), TimerRecord.status == "pending")
        .values(status="claimed", claimed_at=bindparam("now"))
        .returning(TimerRecord.id, TimerRecord.workflow_id, TimerRecord.key, TimerRecord.kind,
                   TimerRecord.session_key, TimerRecord.due_at, TimerRecord.data)
    )


_CLAIM = _claim_statement()
_NEXT_DUE = select(func.min(TimerRecord.due_at)).where(TimerRecord.status == "pending")


def fire(store: WorkflowStore, claimed: ClaimedTimer, now: datetime) -> None:
    """Apply the timer's event (idempotent by its key); the row reads `fired` either way."""
    outcome = store.apply(claimed.workflow_id, timer_event(claimed.key, claimed.timer), now, retries=FIRE_RETRIES)
    if not outcome.duplicate:
        return  # the event's own transaction marked the row fired (FireTimer)
    # Fired before by a task whose process died before it could mark the row: mark it now, nothing is applied twice.
    with store.unit_of_work() as uow:
        uow.db.execute(update(TimerRecord).where(TimerRecord.id == claimed.id, TimerRecord.status == "claimed")
                       .values(status="fired", fired_at=now))
        uow.commit()


def insert_timers(uow: UnitOfWork, rows: list[dict]) -> None:
    """New timer rows (TimerRecord's columns as dicts) in one Core statement: no ORM object per row, and one INSERT
    with many VALUES however many rows (SQLAlchemy's insertmanyvalues)."""
    if rows:
        uow.db.connection().execute(insert(TimerRecord.__table__), rows)


def claimed_among(uow: UnitOfWork, timer_ids: list[str]) -> list[ClaimedTimer]:
    """The timers among `timer_ids` still `claimed` (a worker's batch: some may have been fired by a task before)."""
    dialect = uow.db.get_bind().dialect.name
    rows = uow.db.connection().execute(_claimed_among_statement(dialect), {"ids": list(timer_ids)})
    return [claimed_from_row(row) for row in rows]


def mark_fired(uow: UnitOfWork, timer_ids: list[str], now: datetime) -> int:
    """Every timer among `timer_ids` still `claimed` reads `fired`, in one statement (a batch's timers whose events are
    in this transaction, or were committed before by a task that died before marking its rows)."""
    if not timer_ids:
        return 0
    dialect = uow.db.get_bind().dialect.name
    return uow.db.connection().execute(_mark_fired_statement(dialect), {"ids": list(timer_ids), "now": now}).rowcount


def claim_written_timers(uow: UnitOfWork, workflow_ids: list[str], event_ids: list[int], now: datetime
                         ) -> list[ClaimedTimer]:
    """Timers that these events (of these workflows) just wrote and that are due already: `claimed` in the same
    transaction, so its caller hands them to a worker right after the commit instead of waiting for the scheduler's
    next tick. Found through the workflows' index; one statement."""
    if not event_ids:
        return []
    dialect = uow.db.get_bind().dialect.name
    rows = uow.db.connection().execute(_claim_written_statement(dialect),
                                       {"workflow_ids": list(workflow_ids), "event_ids": list(event_ids), "now": now})
    return [claimed_from_row(row) for row in rows]


def any_of(column, name: str, dialect_name: str, item_type=String):
    """`column = ANY(:name)` on PostgreSQL (one array parameter, so one prepared statement whatever the batch's
    size); an expanding `IN` on SQLite, which has no arrays."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    return column.in_(bindparam(name, expanding=True))


def _ids_in(dialect_name: str):
    return any_of(TimerRecord.id, "ids", dialect_name)


@cache
def _claim_written_statement(dialect_name: str):
    return (update(TimerRecord.__table__)
            .where(any_of(TimerRecord.workflow_id, "workflow_ids", dialect_name),
                   any_of(TimerRecord.event_id, "event_ids", dialect_name, Integer),
                   TimerRecord.status == "pending", TimerRecord.due_at <= bindparam("now"))
            .values(status="claimed", claimed_at=bindparam("now"))
            .returning(TimerRecord.id, TimerRecord.workflow_id, TimerRecord.key, TimerRecord.kind,
                       TimerRecord.session_key, TimerRecord.due_at, TimerRecord.data))


@cache
def _claimed_among_statement(dialect_name: str):
    return (select(TimerRecord.id, TimerRecord.workflow_id, TimerRecord.key, TimerRecord.kind, TimerRecord.session_key,
                   TimerRecord.due_at, TimerRecord.data)
            .where(_ids_in(dialect_name), TimerRecord.status == "claimed"))


@cache
def _mark_fired_statement(dialect_name: str):
    return (update(TimerRecord.__table__).where(_ids_in(dialect_name), TimerRecord.status == "claimed")
            .values(status="fired", fired_at=bindparam("now")))


def next_due_at(uow: UnitOfWork) -> datetime | None:
    return uow.db.execute(_NEXT_DUE).scalar()


def claimed_from_row(row) -> ClaimedTimer:
    """From a timer row, or a claim's returned columns (the same names)."""
    return ClaimedTimer(row.id, row.workflow_id, row.key,
                        Timer(kind=row.kind, due_at=row.due_at, session=row.session_key, data=row.data))


def release_claims(uow: UnitOfWork, timer_ids: list[str], claimed_at: datetime) -> int:
    """Return timers this scheduler claimed at `claimed_at` but could not hand to Celery (broker down) to `pending`,
    so the next tick that reaches the broker hands them out, rather than after the stale-claim grace period."""
    if not timer_ids:
        return 0
    return uow.db.execute(update(TimerRecord).where(TimerRecord.id.in_(timer_ids), TimerRecord.status == "claimed",
                                                    TimerRecord.claimed_at == claimed_at)
                          .values(status="pending", claimed_at=None)).rowcount


def release_stale_claims(uow: UnitOfWork, now: datetime, grace_seconds: int) -> int:
    """Timers claimed but not fired within the grace period lost their task (Redis flushed, worker killed): re-pend.

    Firing is idempotent by the event's key, so a slow task that does finish after all changes nothing twice.
    """
    cutoff = now - timedelta(seconds=grace_seconds)
    return uow.db.execute(update(TimerRecord).where(TimerRecord.status == "claimed", TimerRecord.claimed_at < cutoff)
                          .values(status="pending", claimed_at=None)).rowcount
