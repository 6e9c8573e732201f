"""Delivering outbox rows: claim the due ones, re-check policy against the workflow as it is now, send or drop.

The simulator calls `deliver_due` as its virtual clock advances; the Celery workers of the workers issue will call
`claim_due_messages` and `deliver` the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session

from config.protocol import ProtocolBook
from models.tables import OutboxMessage, Workflow
from workflows.messages import Pending, recheck
from workflows.state import WorkflowState

if TYPE_CHECKING:  # models/ does not depend on workers/ at run time; any object with send() will do
    from workers.gateways import SmsGateway

# Small batches: each row is one provider call, and a crashed sender strands at most this many until the sweeper.
SEND_BATCH = 100


def claim_due_messages(engine: Engine, now: datetime, limit: int = SEND_BATCH) -> list[OutboxMessage]:
    """Move due pending rows to `sending`; concurrent claimers never get the same row."""
    due = _due_pending(now, limit)
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


def _due_pending(now: datetime, limit: int):
    """Due pending rows, locked for this claim. Materialized so PostgreSQL runs the locking subquery once and the
    limit holds (see models/timers.py)."""
    return (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.not_before <= now)
        .order_by(OutboxMessage.not_before, OutboxMessage.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


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


def hand_off_due_messages(engine: Engine, now: datetime, limit: int = SEND_BATCH) -> list[str]:
    """Mark due pending rows `queued` for a worker (the scheduler then hands their ids to Celery)."""
    due = _due_pending(now, limit)
    with Session(engine) as db:
        ids = db.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(select(due.c.id)), OutboxMessage.status == "pending")
            .values(status="queued", claimed_at=now).returning(OutboxMessage.id),
            execution_options={"synchronize_session": False},
        ).scalars().all()
        db.commit()
    return list(ids)


def claim_message(engine: Engine, message_id: str, now: datetime) -> OutboxMessage | None:
    """A worker takes one handed-off message (`queued` → `sending`); None if another took it or it is done."""
    # One round trip for the claim and the row (RETURNING the whole row; not expired on commit, so not re-read).
    with Session(engine, expire_on_commit=False) as db:
        claimed = db.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status == "queued")
            .values(status="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage),
            execution_options={"synchronize_session": False},
        ).scalar()
        db.commit()
        if claimed is not None:
            db.expunge(claimed)
        return claimed


def requeue(engine: Engine, message_id: str, now: datetime, not_before: datetime | None = None) -> None:
    """A transient failure: back to `queued` for the retry (or `pending` until `not_before`), never lost."""
    values = {"status": "pending", "not_before": not_before, "claimed_at": None} if not_before else \
        {"status": "queued", "claimed_at": now}
    with Session(engine) as db:
        db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status == "sending")
                   .values(**values))
        db.commit()


def mark_failed(engine: Engine, message_id: str, code: str) -> None:
    _finish(engine, message_id, status="failed", error_code=code)


def return_unhanded(engine: Engine, message_ids: list[str], queued_at: datetime) -> int:
    """Messages marked `queued` at `queued_at` whose task never reached the broker: back to `pending` at once.

    Safe even if a task did get through after all: a worker only sends a message it moves from `queued` to `sending`.
    """
    if not message_ids:
        return 0
    with Session(engine) as db:
        returned = db.execute(update(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                                          OutboxMessage.status == "queued",
                                                          OutboxMessage.claimed_at == queued_at)
                              .values(status="pending", claimed_at=None)).rowcount
        db.commit()
    return returned


def sweep_messages(engine: Engine, now: datetime, handoff_grace: int) -> int:
    """Re-hand messages whose task was lost (`queued` longer than `handoff_grace`: Redis flushed, say); returns how many.

    `sending` rows are not touched here: the provider may have them. `workers/reconcile.py` asks it before any resend.
    """
    cutoff = now - timedelta(seconds=handoff_grace)
    with Session(engine) as db:
        lost = db.execute(update(OutboxMessage)
                          .where(OutboxMessage.status == "queued", OutboxMessage.claimed_at < cutoff)
                          .values(status="pending", claimed_at=None)).rowcount
        db.commit()
    return lost


def stale_sends(engine: Engine, now: datetime, send_grace: int, limit: int = SEND_BATCH) -> list[OutboxMessage]:
    """`sending` rows claimed more than `send_grace` ago, oldest first: no outcome was recorded and no status callback
    came, so their worker died (before or after the provider took the message) or never heard back."""
    cutoff = now - timedelta(seconds=send_grace)
    with Session(engine) as db:
        rows = db.execute(select(OutboxMessage)
                          .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < cutoff)
                          .order_by(OutboxMessage.claimed_at).limit(limit)).scalars().all()
        db.expunge_all()
    return list(rows)


def mark_sent(engine: Engine, message_id: str, provider_id: str, now: datetime, claimed_at: datetime) -> bool:
    """The provider had the stale send: record it as sent. Only the claim that was looked up (`claimed_at`) is settled."""
    return _settle(engine, message_id, claimed_at, status="sent", provider_id=provider_id, sent_at=now)


def return_to_pending(engine: Engine, message_id: str, claimed_at: datetime) -> bool:
    """The provider never had the stale send: back to `pending`, to be handed out and sent again.

    Conditional on the claim that was looked up: another scheduler may have returned it already and a worker be sending
    it afresh, and that send must not be taken back.
    """
    return _settle(engine, message_id, claimed_at, status="pending", claimed_at=None)


def _settle(engine: Engine, message_id: str, looked_up_claim: datetime, **values) -> bool:
    with Session(engine) as db:
        changed = db.execute(update(OutboxMessage)
                             .where(OutboxMessage.id == message_id, OutboxMessage.status == "sending",
                                    OutboxMessage.claimed_at == looked_up_claim)
                             .values(**values)).rowcount
        db.commit()
    return changed == 1


# Provider statuses, in the order a message moves through them; a late callback never moves a message backwards.
PROVIDER_STATUS = {"accepted": "sent", "queued": "sent", "sending": "sent", "sent": "sent",
                   "delivered": "delivered", "undelivered": "failed", "failed": "failed"}
RANK = {"pending": 0, "queued": 0, "sending": 1, "sent": 2, "delivered": 3, "failed": 3, "dropped": 3}


def record_provider_status(engine: Engine, message_id: str, provider_status: str, provider_id: str | None,
                           error_code: str | None, now: datetime) -> str | None:
    """Apply a provider status callback to our row; returns the row's new status, or None if unknown or stale."""
    status = PROVIDER_STATUS.get(provider_status)
    with Session(engine) as db:
        row = db.get(OutboxMessage, message_id)
        if row is None or status is None:
            return None
        if provider_id and not row.provider_id:
            row.provider_id = provider_id
        if RANK[status] > RANK.get(row.status, 0) or (status == "failed" and row.status != "failed"):
            row.status = status
            row.sent_at = row.sent_at or now
            if status == "delivered":
                row.delivered_at = now
            if status == "failed":
                row.error_code = error_code
        db.add(row)
        db.commit()
        return row.status
