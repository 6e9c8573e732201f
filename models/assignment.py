"""Staff assign a text that routing left unassigned (a shared or unknown number) to a patient: it is applied then.

The text becomes that patient's `sms.received` with the idempotency key it would have had (`twilio:<MessageSid>`) and
the time it arrived, in one transaction with the inbox row's new status: assigned twice (a double click, two staff at
once) it is applied once. A crisis text from an unknown number already had its crisis line: applied as a copy (the
emergency is raised on the patient's record, no second crisis line), and its patient-less item is resolved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from models import unattached
from models.store import ConcurrencyConflict, Outcome, WorkflowStore
from models.tables import EscalationRecord, InboundText, WorkflowRow
from models.unit_of_work import UnitOfWork
from workflows.errors import Rejected
from workflows.events import make_event
from workflows.inbound import read

ASSIGNABLE = "unassigned"
RETRIES = 3


def assign_text(store: WorkflowStore, inbox_id: str, workflow_id: str, assigned_by: str, now: datetime) -> Outcome:
    """Apply an unassigned text to `workflow_id` as the patient's own; refused (nothing written) if it was not waiting."""
    for attempt in range(RETRIES + 1):
        try:
            with store.unit_of_work() as uow:
                outcome = _assign_in(store, uow, inbox_id, workflow_id, assigned_by, now)
                uow.commit()
                return outcome
        except ConcurrencyConflict:
            if attempt == RETRIES:
                raise
    raise AssertionError("unreachable")


def _assign_in(store: WorkflowStore, uow: UnitOfWork, inbox_id: str, workflow_id: str, assigned_by: str,
               now: datetime) -> Outcome:
    text = uow.db.execute(select(InboundText).where(InboundText.id == inbox_id).with_for_update()).scalar()
    if text is None:
        raise Rejected("unknown text", code="not_found", rule="text_exists")
    if text.status != ASSIGNABLE:
        if text.status == "applied" and text.workflow_id == workflow_id:
            return _already(uow, text)
        raise Rejected(f"this text is {text.status}, not waiting to be assigned; nothing was changed",
                       code="not_allowed", rule="text_unassigned")
    crisis_item = unattached.escalation_id_for(text.id)
    answered = uow.db.get(EscalationRecord, crisis_item) is not None  # the crisis line went when it arrived
    event = make_event("sms.received", {"from": text.from_phone, "body": text.body, "copy": answered},
                       actor={"role": "patient"}, idempotency_key=f"twilio:{text.provider_id}",
                       occurred_at=text.received_at)
    outcome = store.apply_in(uow, workflow_id, event, now)
    uow.db.execute(update(InboundText).where(InboundText.id == text.id).values(
        status="applied", workflow_id=workflow_id, event_id=outcome.event_id, applied_at=now,
        reading=read(text.body, store.clinic).kind, note=f"assigned by {assigned_by}"[:200]))
    item = uow.db.get(EscalationRecord, crisis_item)
    if answered and item.status != "resolved":
        unattached.resolve(item, assigned_by, "assigned to the patient: the emergency is on their record", now)
        uow.db.add(item)
    return outcome


def _already(uow: UnitOfWork, text: InboundText) -> Outcome:
    workflow = uow.db.get(WorkflowRow, text.workflow_id)
    return Outcome(workflow.id, workflow.patient_id, workflow.stage, text.event_id, duplicate=True)
