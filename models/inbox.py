"""The inbox: a patient's text is stored on arrival (keyed by MessageSid), then applied to its workflow(s) once.

`take_in` (`models/inbox_arrival.py`) writes the raw text in one short transaction (a repeated MessageSid writes
nothing); crisis language is read from the raw text there, so a crisis text is handed out and swept ahead of the
rest. `apply_text` applies a stored text as `sms.received` (idempotency key `twilio:<MessageSid>`, `occurred_at` =
when it was received) in one transaction with the row's new status, so a worker killed mid-apply leaves the row as it
was, for the sweep. Row operations for the scheduler are in `models/inbox_sweep.py`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from models.inbox_arrival import (  # noqa: F401 - the arrival side, re-exported: one place to import the inbox from
    APPLIED,
    IGNORED,
    PENDING,
    QUEUED,
    UNASSIGNED,
    WAITING,
    Arrival,
    Incoming,
    sms_event,
    take_in,
    take_in_many,
)
from models.routing import route_text
from models.store import ConcurrencyConflict, Outcome, WorkflowStore
from models.tables import InboundText, WorkflowRow
from models.unit_of_work import UnitOfWork
from workflows.errors import Rejected
from workflows.events import make_event
from workflows.inbound import read

log = logging.getLogger("carepath.inbox")

# Conflicts with a concurrent writer on the same workflow (a timer, staff, another text) settle in a few re-reads.
APPLY_RETRIES = 5


@dataclass(frozen=True)
class Applied:
    """What applying a stored text came to: its status, and the first workflow and event it was applied as."""

    status: str
    workflow_id: str | None = None
    event_id: int | None = None


def idempotency_key(text: InboundText) -> str:
    return f"twilio:{text.provider_id}"


def apply_text(store: WorkflowStore, inbox_id: str, now: datetime, retries: int = APPLY_RETRIES) -> Applied | None:
    """Apply one stored text to the workflow(s) it is routed to; None when it is not waiting (applied already)."""
    for attempt in range(retries + 1):
        try:
            with store.unit_of_work() as uow:
                applied = _apply_in(store, uow, inbox_id, now)
                uow.commit()
        except ConcurrencyConflict:
            if attempt == retries:
                raise
            continue
        if applied is not None:
            log.info("inbound text %s %s (workflow %s, event %s)", inbox_id, applied.status,
                     applied.workflow_id or "-", applied.event_id or "-")
        return applied
    raise AssertionError("unreachable")


def _apply_in(store: WorkflowStore, uow: UnitOfWork, inbox_id: str, now: datetime) -> Applied | None:
    # The row lock makes a second task for the same text wait, then find it applied.
    text = uow.db.execute(select(InboundText).where(InboundText.id == inbox_id, InboundText.status.in_(WAITING))
                          .with_for_update()).scalar()
    if text is None:
        return None
    routing = route_text(uow, text, store)  # writes what the number itself records into this same transaction
    if routing.clinic is not None:
        text.clinic_id = routing.clinic  # the clinic's inbox shows it
    if not routing.workflow_ids:
        return _finish(uow, text, now, Applied(UNASSIGNED), note=routing.unassigned, clinic_id=text.clinic_id)
    outcomes: list[Outcome] = []
    refused: list[str] = []
    for number, workflow_id in enumerate(routing.workflow_ids):
        # The first workflow answers the patient; the others (a shared number) record the same text as a copy.
        try:  # a refusal is raised before anything is written: the other workflows still get the text
            event = sms_event(text.from_phone, text.body, idempotency_key(text), text.received_at, copy=number > 0)
            outcomes.append(store.apply_in(uow, workflow_id, event, now))
        except Rejected as exc:
            refused.append(exc.rule or exc.code)
    note = f"refused: {', '.join(sorted(set(refused)))}"[:200] if refused else None
    if not outcomes:
        return _finish(uow, text, now, Applied(IGNORED), note=note)
    first = outcomes[0]
    owner = uow.db.get(WorkflowRow, first.workflow_id)
    return _finish(uow, text, now, Applied(APPLIED, first.workflow_id, first.event_id), note=note,
                   clinic_id=owner.clinic_id if owner is not None else text.clinic_id,
                   reading=read(text.body, store.clinic).kind)


def _finish(uow: UnitOfWork, text: InboundText, now: datetime, applied: Applied, **values) -> Applied:
    uow.db.execute(update(InboundText).where(InboundText.id == text.id).values(
        status=applied.status, workflow_id=applied.workflow_id, event_id=applied.event_id, applied_at=now,
        claimed_at=None, attempts=InboundText.attempts + 1, **values))
    return applied


def receive_sms(store: WorkflowStore, phone: str, body: str, now: datetime, sid: str | None = None,
                to_phone: str | None = None) -> Applied | None:
    """Store a text and apply it at once, in this process (`carepath simulate`, inline mode); None for a repeat."""
    with store.unit_of_work() as uow:
        arrival = take_in(uow, sid or f"local-{uuid.uuid4().hex}", phone, to_phone, body, now, store.clinic)
        uow.commit()
    if arrival.status not in WAITING:
        return None
    return apply_text(store, arrival.id, now)


def report_to_workflow(store: WorkflowStore, workflow_id: str, event_type: str, message_id: str, code: str | None,
                       now: datetime) -> Outcome:
    """Record what the SMS provider said about a message in the patient's history (opt-out, unreachable number)."""
    return store.apply(workflow_id, provider_report(event_type, message_id, code), now, retries=3)


def provider_report(event_type: str, message_id: str, code: str | None):
    """The event for a provider's report on one of our messages; once per message and kind (its idempotency key)."""
    return make_event(event_type, {"message": message_id, "code": code}, idempotency_key=f"{event_type}:{message_id}")
