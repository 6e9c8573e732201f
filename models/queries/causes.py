"""What a patient's page needs to say why things happen: the workflow's timers, with the event that set each."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlmodel import Session

from models.tables import TimerRecord


def timers_of(engine: Engine, workflow_id: str) -> list[TimerRecord]:
    """Every timer of a workflow (pending, fired and cancelled), in due order."""
    with Session(engine) as db:
        rows = list(db.execute(select(TimerRecord).where(TimerRecord.workflow_id == workflow_id)
                               .order_by(TimerRecord.due_at, TimerRecord.key)).scalars())
        db.expunge_all()
    return rows
