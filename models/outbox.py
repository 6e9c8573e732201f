"""Delivering outbox rows: claim the due ones, re-check policy against the workflow as it is now, send or drop.

Each row operation writes into the caller's unit of work and leaves the commit to it. `deliver` and `deliver_due`
span a provider call, so they open their own short units of work around it instead (no transaction is held open while
the SMS provider answers). The simulator calls `deliver_due` as its virtual clock advances; the scheduler hands
`hand_off_due_messages` ids to the workers, which `claim_message` and `deliver`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from models import numbers
from models.ports import SmsGateway
from models.store import WorkflowStore
from models.tables import MessageReceipt, OutboxMessage, WorkflowRow
from models.timers import any_of
from models.unit_of_work import UnitOfWork
from workflows.messages import Pending, Verdict, recheck
from workflows.state import WorkflowState

# Small batches: each row is one provider call, and a crashed sender strands at most this many until the sweeper.
SEND_BATCH = 100


def claim_due_messages(uow: UnitOfWork, now: datetime, limit: int = SEND_BATCH) -> list[OutboxMessage]:
    """Move due pending rows to `sending`; concurrent claimers never get the same row. One statement: the claimed rows
    come back whole."""
    rows = uow.db.execute(_CLAIM_FOR_SENDING, {"now": now, "limit": limit},
                          execution_options={"synchronize_session": False}).scalars().all()
    return sorted(rows, key=lambda row: (row.not_before, row.created_at))


def _due_pending():
    """Due pending rows (due at the bound `now`, at most the bound `limit`), locked for this claim. Materialized so
    PostgreSQL runs the locking subquery once and the limit holds (see models/timers.py)."""
    return (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.not_before <= bindparam("now"))
        .order_by(OutboxMessage.not_before, OutboxMessage.created_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


# Built once: the scheduler and the simulator claim many times a second, mostly finding nothing, and building the
# statement afresh cost more than running it.
_CLAIM_FOR_SENDING = (
    update(OutboxMessage).where(OutboxMessage.id.in_(select(_due_pending().c.id)), OutboxMessage.status == "pending")
    .values(status="sending", claimed_at=bindparam("now"), attempts=OutboxMessage.attempts + 1)
    .returning(OutboxMessage)
)
_HAND_OFF = (
    update(OutboxMessage).where(OutboxMessage.id.in_(select(_due_pending().c.id)), OutboxMessage.status == "pending")
    .values(status="queued", claimed_at=bindparam("now")).returning(OutboxMessage.id)
)
_NEXT_DUE = select(func.min(OutboxMessage.not_before)).where(OutboxMessage.status == "pending")


def deliver(store: WorkflowStore, message: OutboxMessage, gateway: SmsGateway, now: datetime) -> str:
    """Send one claimed message if it is still wanted and allowed now; returns the status it ends in."""
    with store.unit_of_work() as uow:
        blocked = numbers.blocks(uow, message)  # the number said STOP or cannot take texts: whoever it was for
        workflow = uow.db.get(WorkflowRow, message.workflow_id) if message.workflow_id else None
        if workflow is not None:
            state = WorkflowState.model_validate(workflow.state)
            rules = store.protocols.get(workflow.protocol_version).messaging
    if blocked or workflow is None:  # no workflow: an answer to a number no patient owns, nothing else to re-check
        verdict = Verdict("drop", blocked) if blocked else Verdict("send")
    else:
        verdict = recheck(state, _pending(message), now, rules)
    if verdict.action == "send":
        sender = (store.network.find(message.clinic_id) or store.clinic).sends_from
        provider_id = gateway.send(message.id, message.kind, message.to_phone, message.body, sender=sender)
        values = {"status": "sent", "sent_at": now, "provider_id": provider_id}
    elif verdict.action == "defer":
        values = {"status": "pending", "not_before": verdict.not_before}
    else:
        values = {"status": "dropped", "drop_reason": verdict.reason}
    with store.unit_of_work() as uow:
        _finish(uow, message.id, **values)
        uow.commit()
    return values["status"]


def deliver_due(store: WorkflowStore, gateway: SmsGateway, now: datetime) -> int:
    """Deliver (or drop) every message due at `now`; returns how many were handled."""
    handled = 0
    while True:
        with store.unit_of_work() as uow:
            batch = claim_due_messages(uow, now)
            uow.commit()
        if not batch:
            return handled
        for message in batch:
            deliver(store, message, gateway, now)
        handled += len(batch)


def next_message_due(uow: UnitOfWork) -> datetime | None:
    return uow.db.execute(_NEXT_DUE).scalar()


def _pending(message: OutboxMessage) -> Pending:
    return Pending(kind=message.kind, recipient=message.recipient, automated=message.automated,
                   urgent=message.urgent, subject=message.subject, subject_start=message.subject_start,
                   expires_at=message.expires_at)


def _finish(uow: UnitOfWork, message_id: str, **values) -> str:
    uow.db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status == "sending")
                   .values(**values))
    return values["status"]


def hand_off_due_messages(uow: UnitOfWork, now: datetime, limit: int = SEND_BATCH) -> list[str]:
    """Mark due pending rows `queued` for a worker (the scheduler then hands their ids to Celery)."""
    return list(uow.db.execute(_HAND_OFF, {"now": now, "limit": limit},
                               execution_options={"synchronize_session": False}).scalars().all())


def queue_written_messages(uow: UnitOfWork, workflow_ids: list[str], event_ids: list[int], now: datetime) -> list[str]:
    """Messages that these events (of these workflows) just wrote and that are due now: `queued` in the same
    transaction, so its caller hands their ids to a worker right after the commit (`workers/handoff.py`) instead of
    waiting for the scheduler's next tick. If that hand-off fails they go back to `pending` (`return_unhanded`);
    if the process dies first, the sweep's grace returns them. Found through the workflows' index; one statement."""
    if not event_ids:
        return []
    dialect = uow.db.get_bind().dialect.name
    rows = uow.db.connection().execute(_queue_written_statement(dialect),
                                       {"workflow_ids": list(workflow_ids), "event_ids": list(event_ids), "now": now})
    return [row.id for row in rows]


@cache
def _queue_written_statement(dialect_name: str):
    return (update(OutboxMessage.__table__)
            .where(any_of(OutboxMessage.workflow_id, "workflow_ids", dialect_name),
                   any_of(OutboxMessage.event_id, "event_ids", dialect_name, Integer),
                   OutboxMessage.status == "pending", OutboxMessage.not_before <= bindparam("now"))
            .values(status="queued", claimed_at=bindparam("now"))
            .returning(OutboxMessage.id))


def claim_message(uow: UnitOfWork, message_id: str, now: datetime) -> OutboxMessage | None:
    """A worker takes one handed-off message (`queued` → `sending`); None if another took it or it is done."""
    # One round trip for the claim and the row (RETURNING the whole row; the unit of work does not expire it on commit).
    return uow.db.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status == "queued")
        .values(status="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage),
        execution_options={"synchronize_session": False},
    ).scalar()


def requeue(uow: UnitOfWork, message_id: str, now: datetime, not_before: datetime | None = None) -> None:
    """A transient failure: back to `queued` for the retry (or `pending` until `not_before`), never lost."""
    values = {"status": "pending", "not_before": not_before, "claimed_at": None} if not_before else \
        {"status": "queued", "claimed_at": now}
    uow.db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status == "sending")
                   .values(**values))


def mark_failed(uow: UnitOfWork, message_id: str, code: str) -> None:
    _finish(uow, message_id, status="failed", error_code=code)


def return_unhanded(uow: UnitOfWork, message_ids: list[str], queued_at: datetime) -> int:
    """Messages marked `queued` at `queued_at` whose task never reached the broker: back to `pending` at once.

    Safe even if a task did get through after all: a worker only sends a message it moves from `queued` to `sending`.
    """
    if not message_ids:
        return 0
    return uow.db.execute(update(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                                      OutboxMessage.status == "queued",
                                                      OutboxMessage.claimed_at == queued_at)
                          .values(status="pending", claimed_at=None)).rowcount


def sweep_messages(uow: UnitOfWork, now: datetime, handoff_grace: int) -> int:
    """Re-hand messages whose task was lost (`queued` longer than `handoff_grace`: Redis flushed, say); returns how many.

    `sending` rows are not touched here: the provider may have them. `workers/reconcile.py` asks it before any resend.
    """
    cutoff = now - timedelta(seconds=handoff_grace)
    return uow.db.execute(update(OutboxMessage)
                          .where(OutboxMessage.status == "queued", OutboxMessage.claimed_at < cutoff)
                          .values(status="pending", claimed_at=None)).rowcount


def stale_sends(uow: UnitOfWork, now: datetime, send_grace: int, limit: int = SEND_BATCH) -> list[OutboxMessage]:
    """`sending` rows claimed more than `send_grace` ago, oldest first: no outcome was recorded and no status callback
    came, so their worker died (before or after the provider took the message) or never heard back."""
    cutoff = now - timedelta(seconds=send_grace)
    rows = uow.db.execute(select(OutboxMessage)
                          .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < cutoff)
                          .order_by(OutboxMessage.claimed_at).limit(limit)).scalars().all()
    return list(rows)


def mark_sent(uow: UnitOfWork, message_id: str, provider_id: str, now: datetime, claimed_at: datetime) -> bool:
    """The provider had the stale send: record it as sent. Only the claim that was looked up (`claimed_at`) is settled."""
    return _settle(uow, message_id, claimed_at, status="sent", provider_id=provider_id, sent_at=now)


def return_to_pending(uow: UnitOfWork, message_id: str, claimed_at: datetime) -> bool:
    """The provider never had the stale send: back to `pending`, to be handed out and sent again.

    Conditional on the claim that was looked up: another scheduler may have returned it already and a worker be sending
    it afresh, and that send must not be taken back.
    """
    return _settle(uow, message_id, claimed_at, status="pending", claimed_at=None)


def _settle(uow: UnitOfWork, message_id: str, looked_up_claim: datetime, **values) -> bool:
    changed = uow.db.execute(update(OutboxMessage)
                             .where(OutboxMessage.id == message_id, OutboxMessage.status == "sending",
                                    OutboxMessage.claimed_at == looked_up_claim)
                             .values(**values)).rowcount
    return changed == 1


# Provider statuses, in the order a message moves through them; a late callback never moves a message backwards.
PROVIDER_STATUS = {"accepted": "sent", "queued": "sent", "sending": "sent", "sent": "sent",
                   "delivered": "delivered", "undelivered": "failed", "failed": "failed"}
RANK = {"pending": 0, "queued": 0, "sending": 1, "sent": 2, "delivered": 3, "failed": 3, "dropped": 3}


@dataclass(frozen=True)
class Receipt:
    """What one status callback came to. `outcome`: recorded (first time for this MessageSid and status), repeat
    (recorded before: nothing done), wrong_sid / no_sid (not this message's MessageSid: ignored), unknown (no such
    message or status), late_failure (a failure after `delivered`: recorded, the message stays delivered)."""

    outcome: str
    status: str | None = None  # the message's status after the callback
    workflow_id: str | None = None

    @property
    def new(self) -> bool:
        return self.outcome in ("recorded", "late_failure")


def record_provider_status(uow: UnitOfWork, message_id: str, provider_status: str, provider_id: str | None,
                           error_code: str | None, now: datetime) -> Receipt:
    """Apply a provider status callback to our row: only with the message's own MessageSid (the first one seen, when
    the sender died before storing it), once per (MessageSid, status), and only ever forward: `delivered` is final."""
    status = PROVIDER_STATUS.get(provider_status)
    # Locked: two callbacks for one message (sent and delivered arrive together) are applied one after the other.
    row = uow.db.get(OutboxMessage, message_id, with_for_update=True) if status is not None else None
    if row is None:
        return Receipt("unknown")
    if not provider_id or (row.provider_id and row.provider_id != provider_id):
        return Receipt("wrong_sid" if provider_id else "no_sid", row.status, row.workflow_id)
    if not _first_receipt(uow, message_id, provider_id, provider_status, error_code, now):
        return Receipt("repeat", row.status, row.workflow_id)
    row.provider_id = provider_id
    outcome = "recorded"
    if row.status == "delivered" and status == "failed":
        outcome = "late_failure"  # the history says so (workers/status_callbacks.py); the message stays delivered
    elif RANK[status] > RANK.get(row.status, 0):
        row.status = status
        row.sent_at = row.sent_at or now
        if status == "delivered":
            row.delivered_at = now
        if status == "failed":
            row.error_code = error_code
    uow.db.add(row)
    uow.db.flush()
    return Receipt(outcome, row.status, row.workflow_id)


def _first_receipt(uow: UnitOfWork, message_id: str, provider_id: str, provider_status: str, error_code: str | None,
                   now: datetime) -> bool:
    """Record the receipt; False when this (MessageSid, status) was recorded before."""
    dialect = postgresql if uow.db.get_bind().dialect.name == "postgresql" else sqlite
    return uow.db.execute(
        dialect.insert(MessageReceipt)
        .values(message_id=message_id, provider_id=provider_id, status=provider_status, error_code=error_code,
                received_at=now)
        .on_conflict_do_nothing(index_elements=["provider_id", "status"]).returning(MessageReceipt.id)
    ).scalar() is not None
