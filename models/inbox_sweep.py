"""The scheduler's side of the inbox: hand waiting texts to workers (crisis first), and take back the ones whose task
was lost. Each operation writes into the caller's unit of work and leaves the commit to it.

A text is `pending` (nobody has it), `queued` (handed to a worker at `claimed_at`), then `applied`, `unassigned` or
`ignored`. Applying is idempotent (the event's key is the MessageSid), so handing a text out twice costs a lookup,
never a second event.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from models.inbox import PENDING, QUEUED
from models.tables import InboundText
from models.unit_of_work import UnitOfWork

# Texts handed out per tick: a burst of thousands drains over a few ticks instead of one long statement.
HAND_OFF_BATCH = 500


def hand_off_waiting_texts(uow: UnitOfWork, now: datetime, limit: int = HAND_OFF_BATCH) -> list[tuple[str, bool]]:
    """Mark up to `limit` pending texts `queued`, crisis first then oldest; returns (id, crisis) in that order."""
    waiting = (
        select(InboundText.id)
        .where(InboundText.status == PENDING)
        .order_by(InboundText.crisis.desc(), InboundText.received_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL: two schedulers never take the same row
        .cte("waiting")
        .prefix_with("MATERIALIZED", dialect="postgresql")  # the locking subquery runs once (see models/timers.py)
    )
    rows = uow.db.execute(
        update(InboundText).where(InboundText.id.in_(select(waiting.c.id)), InboundText.status == PENDING)
        .values(status=QUEUED, claimed_at=now)
        .returning(InboundText.id, InboundText.crisis, InboundText.received_at),
        execution_options={"synchronize_session": False},
    ).all()
    return [(row.id, row.crisis) for row in sorted(rows, key=lambda r: (not r.crisis, r.received_at))]


def return_unhanded_texts(uow: UnitOfWork, inbox_ids: list[str], queued_at: datetime) -> int:
    """Texts marked `queued` at `queued_at` whose task never reached the broker: back to `pending` at once."""
    if not inbox_ids:
        return 0
    return uow.db.execute(update(InboundText).where(InboundText.id.in_(inbox_ids), InboundText.status == QUEUED,
                                                    InboundText.claimed_at == queued_at)
                          .values(status=PENDING, claimed_at=None)).rowcount


def requeue_text(uow: UnitOfWork, inbox_id: str, now: datetime) -> None:
    """A worker retries the text later (Celery's backoff): it is still handed out, as of now."""
    uow.db.execute(update(InboundText).where(InboundText.id == inbox_id, InboundText.status == QUEUED)
                   .values(claimed_at=now))


def release_text(uow: UnitOfWork, inbox_id: str) -> None:
    """A worker gave up for now (retries spent, or no broker to retry through): the next sweep hands it out again."""
    uow.db.execute(update(InboundText).where(InboundText.id == inbox_id, InboundText.status == QUEUED)
                   .values(status=PENDING, claimed_at=None))


def sweep_texts(uow: UnitOfWork, now: datetime, handoff_grace: int) -> int:
    """Texts handed out longer than `handoff_grace` ago and still not applied lost their task (Redis flushed, worker
    killed mid-apply, database restarted under it): back to `pending`; returns how many."""
    cutoff = now - timedelta(seconds=handoff_grace)
    return uow.db.execute(update(InboundText).where(InboundText.status == QUEUED, InboundText.claimed_at < cutoff)
                          .values(status=PENDING, claimed_at=None)).rowcount


def waiting_texts(uow: UnitOfWork) -> int:
    """Texts stored but not yet applied (pending or handed out)."""
    return uow.db.execute(select(func.count()).select_from(InboundText)
                          .where(InboundText.status.in_((PENDING, QUEUED)))).scalar_one()
