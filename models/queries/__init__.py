"""The store's read queries, in one place: every `select` a page, a route or a report needs lives in this package.

Here: what a workflow looks like now and its history (reports, tests, the CLI). Beside it: `listing` (paginated pages for
the API and the console), `agenda` (what is booked when, for the calendar) and `ops` (the counts ops watch). Every query
takes an `Engine` and returns plain rows, detached from their session.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from models.tables import EscalationRecord, EventRecord, OutboxMessage, TimerRecord, WorkflowRow
from workflows.state import WorkflowState


def load_state(engine: Engine, workflow_id: str) -> WorkflowState | None:
    with Session(engine) as db:
        workflow = db.get(WorkflowRow, workflow_id)
        return WorkflowState.model_validate(workflow.state) if workflow else None


def events(engine: Engine, workflow_id: str | None = None) -> list[EventRecord]:
    query = select(EventRecord).order_by(EventRecord.occurred_at, EventRecord.id)
    if workflow_id is not None:
        query = query.where(EventRecord.workflow_id == workflow_id).order_by(None).order_by(EventRecord.seq)
    return _all(engine, query)


def has_event_with_key(engine: Engine, workflow_id: str, idempotency_key: str) -> bool:
    """Whether the workflow already recorded an event under this idempotency key."""
    query = select(EventRecord.id).where(EventRecord.workflow_id == workflow_id,
                                         EventRecord.idempotency_key == idempotency_key)
    with Session(engine) as db:
        return db.execute(query).first() is not None


def has_workflows(engine: Engine) -> bool:
    """Whether any workflow was ever started in this database."""
    with Session(engine) as db:
        return db.execute(select(func.count()).select_from(WorkflowRow)).scalar() > 0


def timers(engine: Engine) -> list[TimerRecord]:
    return _all(engine, select(TimerRecord).order_by(TimerRecord.due_at, TimerRecord.key))


def messages(engine: Engine) -> list[OutboxMessage]:
    return _all(engine, select(OutboxMessage).order_by(OutboxMessage.not_before, OutboxMessage.created_at))


def escalations(engine: Engine) -> list[EscalationRecord]:
    return _all(engine, select(EscalationRecord).order_by(EscalationRecord.raised_at, EscalationRecord.id))


def _all(engine: Engine, query) -> list:
    with Session(engine) as db:
        rows = db.execute(query).scalars().all()
        db.expunge_all()
        return list(rows)
