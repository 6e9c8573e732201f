"""Delivering outbox rows: claim the due ones, re-check policy against the workflow as it is now, send or drop.

The simulator calls `deliver_due` as its virtual clock advances; the Celery workers of the workers issue will call
`claim_due_messages` and `deliver` the same way.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session

from config.protocol import ProtocolBook
from models.tables import OutboxMessage, Workflow
from workers.gateways import SmsGateway
from workflows.messages import Pending, recheck
from workflows.state import WorkflowState

# Small batches: each row is one provider call, and a crashed sender strands at most this many until the sweeper.
SEND_BATCH = 100


def claim_due_messages(engine: Engine, now: datetime, limit: int = SEND_BATCH) -> list[OutboxMessage]:
    """Move due pending rows to `sending`; concurrent claimers never get the same row."""
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.not_before <= now)
        .order_by(OutboxMessage.not_before, OutboxMessage.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        # Materialized so PostgreSQL runs the locking subquery once and the limit holds (see models/timers.py).
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    with Session(engine) as db:
        ids = db.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(select(due.c.id)), OutboxMessage.status == "pending")
            .values(status="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage.id),
            execution_options={"synchronize_session": False},
        ).scalars().all()
        db.commit()
        rows = db.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).scalars().all()
        db.expunge_all()
    return sorted(rows, key=lambda row: (row.not_before, row.created_at))


def deliver(engine: Engine, protocols: ProtocolBook, message: OutboxMessage, gateway: SmsGateway,
            now: datetime) -> str:
    """Send one claimed message if it is still wanted and allowed now; returns the status it ends in."""
    with Session(engine) as db:
        workflow = db.get(Workflow, message.workflow_id)
        state = WorkflowState.model_validate(workflow.state)
        rules = protocols.get(workflow.protocol_version).messaging
    verdict = recheck(state, _pending(message), now, rules)
    if verdict.action == "send":
        provider_id = gateway.send(message.id, message.kind, message.to_phone, message.body)
        return _finish(engine, message.id, status="sent", sent_at=now, provider_id=provider_id)
    if verdict.action == "defer":
        return _finish(engine, message.id, status="pending", not_before=verdict.not_before)
    return _finish(engine, message.id, status="dropped", drop_reason=verdict.reason)


def deliver_due(engine: Engine, protocols: ProtocolBook, gateway: SmsGateway, now: datetime) -> int:
    """Deliver (or drop) every message due at `now`; returns how many were handled."""
    handled = 0
    while batch := claim_due_messages(engine, now):
        for message in batch:
            deliver(engine, protocols, message, gateway, now)
        handled += len(batch)
    return handled


def next_message_due(engine: Engine) -> datetime | None:
    with Session(engine) as db:
        return db.execute(select(func.min(OutboxMessage.not_before)).where(OutboxMessage.status == "pending")).scalar()


def _pending(message: OutboxMessage) -> Pending:
    return Pending(kind=message.kind, recipient=message.recipient, automated=message.automated,
                   urgent=message.urgent, subject=message.subject, subject_start=message.subject_start,
                   expires_at=message.expires_at)


def _finish(engine: Engine, message_id: str, **values) -> str:
    with Session(engine) as db:
        db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status == "sending")
                   .values(**values))
        db.commit()
    return values["status"]
