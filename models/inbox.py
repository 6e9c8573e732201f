"""Routing a patient's text to their workflow by phone number."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import case, select

from models.store import Outcome, WorkflowStore
from models.tables import PatientRow, WorkflowRow
from models.unit_of_work import UnitOfWork
from workflows.events import make_event
from workflows.stages import FINAL

log = logging.getLogger("carepath.inbox")


def find_workflow_for_phone(uow: UnitOfWork, phone: str) -> str | None:
    """The patient's active workflow; failing that their most recent one (a discharged patient may still text)."""
    finished = case((WorkflowRow.stage.in_([stage.value for stage in FINAL]), 1), else_=0)
    query = (
        select(WorkflowRow.id)
        .join(PatientRow, PatientRow.id == WorkflowRow.patient_id)
        .where(PatientRow.phone == phone)
        .order_by(finished, WorkflowRow.updated_at.desc())
        .limit(1)
    )
    return uow.db.execute(query).scalar()


def receive_sms(store: WorkflowStore, phone: str, body: str, now: datetime,
                idempotency_key: str | None = None) -> Outcome | None:
    """Apply `sms.received` to the sender's workflow; an unknown number gets no reply and is logged without body."""
    event = make_event("sms.received", {"from": phone, "body": body}, actor={"role": "patient"},
                       idempotency_key=idempotency_key)
    with store.unit_of_work() as uow:
        workflow_id = find_workflow_for_phone(uow, event.data.from_)
    if workflow_id is None:
        log.info("inbound sms from an unknown number: ignored, no reply")
        return None
    return store.apply(workflow_id, event, now, retries=3)


def report_to_workflow(store: WorkflowStore, workflow_id: str, event_type: str, message_id: str, code: str | None,
                       now: datetime) -> Outcome:
    """Record what the SMS provider said about a message in the patient's history (opt-out, unreachable number)."""
    event = make_event(event_type, {"message": message_id, "code": code}, idempotency_key=f"{event_type}:{message_id}")
    return store.apply(workflow_id, event, now, retries=3)
