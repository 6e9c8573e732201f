"""Answers and worklist items that belong to no workflow: a text from a number no patient owns, or one several do.

- Crisis language from a number carepath does not know: the crisis line goes back at once and an emergency worklist
  item is raised with no patient attached (`inbox_id` names the text). With no workflow there is no escalation ladder
  (its timers belong to a workflow), so the on-call clinician and the medical director are both texted at once.
- A text from a shared number that staff must assign: the number gets one short acknowledgement, not one per text
  while earlier ones still wait for staff.
- Acknowledging and resolving such an item changes its row (there is no history to append to); the worklist, the
  dashboard and the API call these for items without a workflow.

Each writes into the caller's unit of work; ids and dedupe keys come from the text's id, so doing it twice writes once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from models.store import WorkflowStore
from models.tables import EscalationRecord, InboundText, OutboxMessage
from models.unit_of_work import UnitOfWork
from workflows.errors import Rejected
from workflows.escalations import REASONS, UNKNOWN_NUMBER_ALERT

CRISIS_REASON = "crisis_language"
# A number that was acknowledged in this window while an earlier text of it still waits for staff is not answered again.
ACK_AGAIN_AFTER = timedelta(hours=12)


def escalation_id_for(inbox_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"carepath:inbox:{inbox_id}:crisis"))


def answer_unknown_crisis(uow: UnitOfWork, store: WorkflowStore, text: InboundText) -> str:
    """The crisis line to the sender, an emergency with no patient, the on-call clinician and medical director texted."""
    clinic, now = store.clinic, text.received_at
    escalation_id = escalation_id_for(text.id)
    if uow.db.get(EscalationRecord, escalation_id) is None:
        minutes = store.protocols.current.escalations.emergency_ack_minutes
        uow.db.add(EscalationRecord(id=escalation_id, inbox_id=text.id, reason=CRISIS_REASON, severity="emergency",
                                    tier=1, owner_role="clinician", status="open", raised_at=now, updated_at=now,
                                    ack_deadline=now + timedelta(minutes=minutes)))
    kind, body = clinic.catalog.render("crisis", clinic=clinic.name, clinic_phone=clinic.phone, when="")
    _message(uow, f"crisis:{text.id}", kind, "patient", text.from_phone, body, now, urgent=True)
    alert = UNKNOWN_NUMBER_ALERT.format(label=REASONS[CRISIS_REASON].label, link=clinic.item_link(escalation_id))
    for role in ("on_call", "medical_director"):
        number = getattr(clinic.staff, role)
        if number is not None:
            _message(uow, f"crisis:{text.id}:{role}", "staff_alert", "clinician" if role == "on_call" else role,
                     number, alert, now, urgent=True, escalation=escalation_id)
    return escalation_id


def acknowledge_shared(uow: UnitOfWork, store: WorkflowStore, text: InboundText) -> bool:
    """One short acknowledgement to a shared number whose text staff must assign; False when one went already."""
    since = text.received_at - ACK_AGAIN_AFTER
    acknowledged = uow.db.execute(select(OutboxMessage.id).where(
        OutboxMessage.workflow_id.is_(None), OutboxMessage.to_phone == text.from_phone,
        OutboxMessage.kind == "reply_ack", OutboxMessage.created_at >= since)).first()
    waiting = uow.db.execute(select(InboundText.id).where(
        InboundText.from_phone == text.from_phone, InboundText.status == "unassigned",
        InboundText.id != text.id)).first()
    if acknowledged is not None and waiting is not None:
        return False
    clinic = store.clinic
    kind, body = clinic.catalog.render("shared_number_ack", clinic=clinic.name, clinic_phone=clinic.phone, when="")
    return _message(uow, f"ack:{text.id}", kind, "patient", text.from_phone, body, text.received_at)


def _message(uow: UnitOfWork, dedupe_key: str, kind: str, recipient: str, to: str, body: str, now: datetime,
             urgent: bool = False, escalation: str | None = None) -> bool:
    if uow.db.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)).first() is not None:
        return False
    uow.db.add(OutboxMessage(id=str(uuid.uuid4()), workflow_id=None, kind=kind, recipient=recipient, to_phone=to,
                             body=body, status="pending", urgent=urgent, automated=False, escalation_id=escalation,
                             dedupe_key=dedupe_key, not_before=now, created_at=now))
    uow.db.flush()
    return True


def acknowledge(uow: UnitOfWork, escalation_id: str, by: str, now: datetime) -> EscalationRecord:
    """Take an item without a workflow (the worklist's claim)."""
    record = _unattached(uow, escalation_id)
    if record.status != "open":
        raise Rejected(f"escalation {record.id} is {record.status}, not open", code="not_allowed",
                       rule="escalation_open")
    record.status, record.acknowledged_at, record.acknowledged_by, record.updated_at = "acknowledged", now, by, now
    uow.db.add(record)
    return record


def resolve(uow: UnitOfWork, escalation_id: str, by: str, note: str | None, now: datetime) -> EscalationRecord:
    """Close an item without a workflow, with a note."""
    record = _unattached(uow, escalation_id)
    if record.status == "resolved":
        raise Rejected(f"escalation {record.id} is already resolved", code="not_allowed", rule="escalation_open")
    record.status, record.resolved_at, record.resolved_by, record.note, record.updated_at = "resolved", now, by, note, now
    uow.db.add(record)
    return record


def _unattached(uow: UnitOfWork, escalation_id: str) -> EscalationRecord:
    record = uow.db.get(EscalationRecord, escalation_id)
    if record is None or record.workflow_id is not None:
        raise Rejected(f"unknown escalation {escalation_id!r} without a workflow", code="not_found",
                       rule="escalation_exists")
    return record


def settle(store: WorkflowStore, escalation_id: str, event_type: str, by: str, now: datetime,
           note: str | None = None) -> EscalationRecord:
    """`escalation.acknowledged` or `escalation.resolved` for an item without a workflow, in a unit of work of its own."""
    with store.unit_of_work() as uow:
        if event_type == "escalation.acknowledged":
            record = acknowledge(uow, escalation_id, by, now)
        else:
            record = resolve(uow, escalation_id, by, note, now)
        uow.commit()
    return record
