"""Answers and worklist items that belong to no workflow: a text from a number no patient owns, or one several do.

- Crisis language from a number carepath does not know: the crisis line goes back at once and an emergency worklist
  item is raised with no patient attached (`inbox_id` names the text). The on-call clinician and the medical director
  are both texted at once; until someone acknowledges it, the medical director is texted again every
  `emergency_repeat_minutes` (`repage_overdue`, from the scheduler's tick and the simulator: a ladder's timers
  belong to a workflow, so the item's own deadline is its ladder).
- A text from a shared number that staff must assign: the number gets one short acknowledgement, not one per text
  while earlier ones still wait for staff.
- Acknowledging and resolving such an item changes its row (there is no history to append to); the worklist, the
  dashboard and the API call these for items without a workflow.

Each writes into the caller's unit of work; ids and dedupe keys come from the text's id, so doing it twice writes once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from models import audit
from models.store import WorkflowStore
from models.tables import EscalationRecord, InboundText, OutboxMessage
from models.unit_of_work import UnitOfWork
from workflows.clinic import Clinic
from workflows.errors import Rejected
from workflows.escalations import REASONS, UNKNOWN_NUMBER_ALERT
from workflows.events import Event

CRISIS_REASON = "crisis_language"
# A number that was acknowledged in this window while an earlier text of it still waits for staff is not answered again.
ACK_AGAIN_AFTER = timedelta(hours=12)


def escalation_id_for(inbox_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"carepath:inbox:{inbox_id}:crisis"))


def answer_unknown_crisis(uow: UnitOfWork, store: WorkflowStore, text: InboundText) -> str:
    """The crisis line to the sender, an emergency with no patient, the on-call clinician and medical director texted."""
    clinic, now = clinic_of_text(store, text), text.received_at
    escalation_id = escalation_id_for(text.id)
    if uow.db.get(EscalationRecord, escalation_id) is None:
        minutes = store.protocols.current.escalations.emergency_ack_minutes
        uow.db.add(EscalationRecord(id=escalation_id, clinic_id=clinic.key, inbox_id=text.id, reason=CRISIS_REASON,
                                    severity="emergency",
                                    tier=1, owner_role="clinician", status="open", raised_at=now, updated_at=now,
                                    ack_deadline=now + timedelta(minutes=minutes)))
    # The language the crisis words were written in, when one catalog's terms match (else the clinic's default).
    catalog = next((c for c in clinic.catalogs.values() if c.mentions_crisis(text.body)), clinic.catalog)
    kind, body = catalog.render("crisis", clinic=clinic.name, clinic_phone=clinic.phone, when="")
    _message(uow, f"crisis:{text.id}", kind, "patient", text.from_phone, body, now, clinic.key, urgent=True)
    alert = UNKNOWN_NUMBER_ALERT.format(label=REASONS[CRISIS_REASON].label, link=clinic.item_link(escalation_id))
    for role in ("on_call", "medical_director"):
        number = clinic.staff_number(role, now)
        if number is not None:
            _message(uow, f"crisis:{text.id}:{role}", "staff_alert", "clinician" if role == "on_call" else role,
                     number, alert, now, clinic.key, urgent=True, escalation=escalation_id)
    return escalation_id


def _overdue(now: datetime | None = None):
    """Open emergencies with no workflow (an unknown number's crisis), past their deadline when `now` is given."""
    where = [EscalationRecord.workflow_id.is_(None), EscalationRecord.status == "open",
             EscalationRecord.severity == "emergency"]
    return where if now is None else [*where, EscalationRecord.ack_deadline <= now]


def next_repage_at(uow: UnitOfWork) -> datetime | None:
    """When the next unacknowledged patient-less emergency falls due to be paged again (None: none is open)."""
    return uow.db.execute(select(func.min(EscalationRecord.ack_deadline)).where(*_overdue())).scalar()


def repage_overdue(uow: UnitOfWork, store: WorkflowStore, now: datetime) -> int:
    """Page the medical director again for each patient-less emergency past its deadline, and set the next deadline
    `emergency_repeat_minutes` from now (PROTOCOL.md §6: "then every 15 min until acknowledged"). Returns how many."""
    repeat = timedelta(minutes=store.protocols.current.escalations.emergency_repeat_minutes)
    overdue = uow.db.execute(select(EscalationRecord).where(*_overdue(now)).with_for_update(skip_locked=True)).scalars()
    paged = 0
    for record in overdue:
        clinic = store.network.find(record.clinic_id) or store.clinic
        director = clinic.staff_number("medical_director", now)
        number = director or clinic.staff_number("on_call", now)
        if number is not None:
            role = "medical_director" if director else "clinician"
            _message(uow, f"crisis:{record.inbox_id}:repage:{record.ack_deadline.isoformat()}", "staff_alert", role,
                     number, UNKNOWN_NUMBER_ALERT.format(label=REASONS[CRISIS_REASON].label, link=clinic.item_link(record.id)),
                     now, clinic.key, urgent=True, escalation=record.id)
        # From now, not from the missed deadline: a scheduler that was down for an hour pages once, not four times.
        record.tier, record.owner_role, record.ack_deadline, record.updated_at = 2, "medical_director", now + repeat, now
        uow.db.add(record)
        paged += 1
    return paged


def answer_unknown_help(uow: UnitOfWork, store: WorkflowStore, text: InboundText, language: str | None) -> bool:
    """HELP (or AYUDA...) from a number no patient owns: the clinic's phone and the crisis line, in the keyword's
    language. Carriers require an answer to HELP from anyone; it names no patient. False when it went already."""
    clinic = clinic_of_text(store, text)
    kind, body = clinic.catalog_for(language).render("help", clinic=clinic.name, clinic_phone=clinic.phone, when="")
    return _message(uow, f"help:{text.id}", kind, "patient", text.from_phone, body, text.received_at, clinic.key)


def acknowledge_shared(uow: UnitOfWork, store: WorkflowStore, text: InboundText, language: str | None = None) -> bool:
    """One short acknowledgement to a shared number whose text staff must assign, in its patients' language when they
    share one; False when one went already."""
    since = text.received_at - ACK_AGAIN_AFTER
    acknowledged = uow.db.execute(select(OutboxMessage.id).where(
        OutboxMessage.workflow_id.is_(None), OutboxMessage.to_phone == text.from_phone,
        OutboxMessage.kind == "reply_ack", OutboxMessage.created_at >= since)).first()
    waiting = uow.db.execute(select(InboundText.id).where(
        InboundText.from_phone == text.from_phone, InboundText.status == "unassigned",
        InboundText.id != text.id)).first()
    if acknowledged is not None and waiting is not None:
        return False
    clinic = clinic_of_text(store, text)
    kind, body = clinic.catalog_for(language).render("shared_number_ack", clinic=clinic.name, clinic_phone=clinic.phone,
                                                     when="")
    return _message(uow, f"ack:{text.id}", kind, "patient", text.from_phone, body, text.received_at, clinic.key)


def clinic_of_text(store: WorkflowStore, text: InboundText) -> Clinic:
    """The clinic a text with no patient belongs to: the one whose number it was sent to, else the first."""
    return store.network.owning(text.to_phone) or store.clinic


def _message(uow: UnitOfWork, dedupe_key: str, kind: str, recipient: str, to: str, body: str, now: datetime,
             clinic: str, urgent: bool = False, escalation: str | None = None) -> bool:
    if uow.db.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)).first() is not None:
        return False
    uow.db.add(OutboxMessage(id=str(uuid.uuid4()), clinic_id=clinic, workflow_id=None, kind=kind, recipient=recipient,
                             to_phone=to, body=body, status="pending", urgent=urgent, automated=False, escalation_id=escalation,
                             dedupe_key=dedupe_key, not_before=now, created_at=now))
    uow.db.flush()
    return True


def acknowledge(record: EscalationRecord, by: str, now: datetime, key: str | None = None) -> None:
    """Take an item without a workflow (the worklist's claim)."""
    if record.status != "open":
        raise Rejected(f"escalation {record.id} is {record.status}, not open", code="not_allowed",
                       rule="escalation_open")
    record.status, record.acknowledged_at, record.acknowledged_by, record.updated_at = "acknowledged", now, by, now
    record.acknowledged_key = key


def resolve(record: EscalationRecord, by: str, note: str | None, now: datetime, key: str | None = None) -> None:
    """Close an item without a workflow, with a note."""
    if record.status == "resolved":
        raise Rejected(f"escalation {record.id} is already resolved", code="not_allowed", rule="escalation_open")
    record.status, record.resolved_at, record.resolved_by, record.note, record.updated_at = "resolved", now, by, note, now
    record.resolved_key = key


def _unattached(uow: UnitOfWork, escalation_id: str) -> EscalationRecord:
    record = uow.db.get(EscalationRecord, escalation_id)
    if record is None or record.workflow_id is not None:
        raise Rejected(f"unknown escalation {escalation_id!r} without a workflow", code="not_found",
                       rule="escalation_exists")
    return record


@dataclass(frozen=True)
class Settled:
    record: EscalationRecord
    duplicate: bool = False  # the idempotency key took or closed it already: the first call's result, nothing written


def settle(store: WorkflowStore, escalation_id: str, event: Event, now: datetime) -> Settled:
    """`escalation.acknowledged` or `escalation.resolved` for an item without a workflow, in a unit of work of its own:
    the row changes, and the audit trail records who changed it (there is no history to append the event to)."""
    acknowledging, key = event.type == "escalation.acknowledged", event.idempotency_key
    with store.unit_of_work() as uow:
        record = _unattached(uow, escalation_id)
        if key is not None and key == (record.acknowledged_key if acknowledging else record.resolved_key):
            uow.db.expunge(record)  # the unit of work rolls back on leaving: keep the row as read
            return Settled(record, duplicate=True)
        if acknowledging:
            acknowledge(record, event.actor.name or "", now, key)
        else:
            resolve(record, event.actor.name or "", getattr(event.data, "note", None), now, key)
        uow.db.add(record)
        audit.record(uow, "change", now, user_id=event.actor.user_id, target_id=record.id, detail=event.type)
        uow.commit()
        uow.db.expunge(record)
    return Settled(record)
