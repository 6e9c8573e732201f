"""Phone numbers as records: opt-out and deliverability belong to the number, and so to every patient on it.

A STOP (or the carrier's opt-out, Twilio 21610) from a number stops every text to that number, whichever patient it
was meant for; START opts the number back in; an unreachable number is marked until a text arrives from it. The send-time
check (`models.outbox.deliver`) asks `send_blocked`, and `report_to_number` tells every workflow on the number what the
carrier said, so each patient's coordinator gets the task to switch to phone.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from models.store import Outcome, WorkflowStore, number_blocked
from models.tables import OutboxMessage, PatientRow, PhoneNumber, WorkflowRow
from models.unit_of_work import UnitOfWork
from workflows.events import make_event
from workflows.stages import FINAL

log = logging.getLogger("carepath.numbers")
# Provider codes that say the number itself cannot take texts (invalid, not a mobile, unknown destination, landline):
# marked on the number. Other permanent refusals (credentials, sender) say nothing about the patient's number.
UNREACHABLE_CODES = frozenset({"21211", "21612", "21614", "30005", "30006"})
FINISHED = [stage.value for stage in FINAL]
CARRIER_OPT_OUT = "sms.opted_out_at_carrier"
UNDELIVERABLE = "sms.undeliverable"


def number_of(uow: UnitOfWork, phone: str) -> PhoneNumber | None:
    """What is known against a number (None: nothing)."""
    return uow.db.get(PhoneNumber, phone)


def send_blocked(uow: UnitOfWork, phone: str) -> str | None:
    """Why nothing may be texted to this number now (`opted_out`, `undeliverable`), or None."""
    return number_blocked(uow.db, phone)


def blocks(uow: UnitOfWork, message: OutboxMessage) -> str | None:
    """At send time: why this message must not leave because of its number (patients' texts only), or None."""
    return send_blocked(uow, message.to_phone) if message.recipient == "patient" else None


def opt_out(uow: UnitOfWork, phone: str, now: datetime, by: str = "keyword") -> None:
    """The number said STOP (`by="keyword"`) or the carrier refused it as opted out (`by="carrier"`)."""
    _set(uow, phone, now, opted_out=True, opted_out_at=now, opted_out_by=by)


def opt_in(uow: UnitOfWork, phone: str, now: datetime) -> None:
    """The number said START: texts may go to it again."""
    _set(uow, phone, now, opted_out=False, opted_out_at=None, opted_out_by=None)


def mark_undeliverable(uow: UnitOfWork, phone: str, now: datetime, code: str | None) -> None:
    _set(uow, phone, now, undeliverable=True, undeliverable_at=now, undeliverable_code=code)


def heard_from(uow: UnitOfWork, phone: str, now: datetime) -> None:
    """A text arrived from the number: whatever made it unreachable is over."""
    uow.db.execute(update(PhoneNumber).where(PhoneNumber.phone == phone, PhoneNumber.undeliverable.is_(True))
                   .values(undeliverable=False, undeliverable_at=None, undeliverable_code=None, updated_at=now))


def _set(uow: UnitOfWork, phone: str, now: datetime, **values) -> None:
    # Insert-if-missing first, so two workers recording the same number never collide on its primary key.
    dialect = postgresql if uow.db.get_bind().dialect.name == "postgresql" else sqlite
    uow.db.execute(dialect.insert(PhoneNumber)
                   .values(phone=phone, opted_out=False, undeliverable=False, updated_at=now)
                   .on_conflict_do_nothing(index_elements=["phone"]))
    uow.db.execute(update(PhoneNumber).where(PhoneNumber.phone == phone).values(updated_at=now, **values))


def workflows_on(uow: UnitOfWork, phone: str, clinic: str | None = None) -> list:
    """Every workflow of every patient on the number (in one clinic, when given), as (id, stage, state) rows: those
    in care first, each group most recently changed first."""
    finished = case((WorkflowRow.stage.in_(FINISHED), 1), else_=0)
    query = (select(WorkflowRow.id, WorkflowRow.stage, WorkflowRow.state)
             .join(PatientRow, PatientRow.id == WorkflowRow.patient_id)
             .where(PatientRow.phone == phone)
             .order_by(finished, WorkflowRow.updated_at.desc(), WorkflowRow.id))
    if clinic is not None:
        query = query.where(WorkflowRow.clinic_id == clinic)
    return list(uow.db.execute(query).all())


def in_care(rows: list) -> list:
    """The rows of `workflows_on` whose workflow has not finished."""
    return [row for row in rows if row.stage not in FINISHED]


def report_to_number(store: WorkflowStore, message_id: str, event_type: str, code: str | None,
                     now: datetime) -> list[Outcome]:
    """What the SMS provider said about one of our messages (`sms.opted_out_at_carrier` or `sms.undeliverable`),
    recorded against its number and in the history of every workflow that number belongs to.

    A carrier opt-out is the number's: every patient on it is opted out. An undeliverable code that names the number
    marks it too; any other permanent refusal is reported to the message's own workflow only. Each workflow's event
    carries the idempotency key `<event>:<message id>`, so a repeated report changes nothing.
    """
    with store.unit_of_work() as uow:
        message = uow.db.get(OutboxMessage, message_id)
        if message is None:
            return []
        about_number = event_type == CARRIER_OPT_OUT or (code or "") in UNREACHABLE_CODES
        if event_type == CARRIER_OPT_OUT:
            opt_out(uow, message.to_phone, now, by="carrier")
        elif about_number:
            mark_undeliverable(uow, message.to_phone, now, code)
        on_number = in_care(workflows_on(uow, message.to_phone)) if about_number and message.recipient == "patient" else []
        targets = [row.id for row in on_number]
        uow.commit()
    if message.workflow_id is not None and message.workflow_id not in targets:
        targets.insert(0, message.workflow_id)
    event = make_event(event_type, {"message": message_id, "code": code}, idempotency_key=f"{event_type}:{message_id}")
    outcomes = [store.apply(workflow_id, event, now, retries=3) for workflow_id in targets]
    log.info("%s for message %s recorded on its number and %d workflow(s)", event_type, message_id, len(outcomes))
    return outcomes
