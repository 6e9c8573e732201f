"""Read-side queries: what a workflow looks like now, and its history, for reports, the API and the dashboard."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlmodel import Session

from models.tables import EscalationRecord, EventRecord, OutboxMessage, TimerRecord, Workflow
from workflows.state import WorkflowState


def load_state(engine: Engine, workflow_id: str) -> WorkflowState | None:
    with Session(engine) as db:
        workflow = db.get(Workflow, workflow_id)
        return WorkflowState.model_validate(workflow.state) if workflow else None


def events(engine: Engine, workflow_id: str | None = None) -> list[EventRecord]:
    query = select(EventRecord).order_by(EventRecord.occurred_at, EventRecord.id)
    if workflow_id is not None:
        query = query.where(EventRecord.workflow_id == workflow_id).order_by(None).order_by(EventRecord.seq)
    return _all(engine, query)


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
