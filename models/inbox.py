"""Routing a patient's text to their workflow by phone number."""

from __future__ import annotations

import logging
from datetime import datetime

from models.routing import find_workflow_for_phone
from models.store import Outcome, WorkflowStore
from workflows.events import make_event

log = logging.getLogger("carepath.inbox")


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
