"""The reply box as the patient page and an assigned text's page draw it: whether a text can go to the patient now
(and in plain words why not), when one written now would leave, and a refused attempt drawn again with what was typed.
The route that sends is `api.console.texting`; the policy is the engine's (`workflows.handlers.staff_sms`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from models.queries import inbox
from models.tables import PatientRow, PhoneNumber
from workers.runtime import Services
from workflows.events import STAFF_MESSAGE_MAX
from workflows.handlers.staff_sms import send_time
from workflows.messages import in_quiet_hours
from workflows.stages import NON_FINAL
from workflows.state import WorkflowState


@dataclass
class ReplyBox:
    workflow_id: str
    key: str  # idempotency key: one per box drawn, so a double submit sends once
    blocked: str | None = None  # why no text can go (consent, STOP, unreachable, care ended)
    quiet_until: str | None = None  # "08:00": a text sent now waits for the end of the patient's quiet hours
    patient_time: str = ""
    back: str = ""  # the inbox text this box answers, if any
    error: str | None = None
    content_warning: bool = False  # refused for naming a drug, a diagnosis or a score: offer "Send anyway"
    typed: dict[str, Any] = field(default_factory=dict)
    max_length: int = STAFF_MESSAGE_MAX


def reply_box(svc: Services, state: WorkflowState, patient: PatientRow, now: datetime, back: str = "",
              number: PhoneNumber | None = None) -> ReplyBox:
    """The box for this patient now (`number`: their number's record, when the caller has read it already)."""
    number = number or inbox.number_record(svc.engine, patient.phone)
    box = ReplyBox(workflow_id=state.workflow_id, key=str(uuid.uuid4()), back=back, blocked=blocked_reason(state, number))
    protocol = svc.store.protocols.get(state.protocol_version)
    zone = ZoneInfo(state.patient.timezone)
    box.patient_time = f"{now.astimezone(zone):%H:%M}"
    if in_quiet_hours(now, state.patient.timezone, protocol.messaging):
        box.quiet_until = f"{send_time(state, protocol, now, urgent=False).astimezone(zone):%H:%M}"
    return box


def blocked_reason(state: WorkflowState, number: PhoneNumber | None) -> str | None:
    """Why no text can be sent to this patient now, in plain words, or None."""
    if state.stage not in NON_FINAL:
        return "This patient's care has ended: texts are no longer sent from carepath."
    if state.patient.opted_out or (number is not None and number.opted_out):
        return "This phone number replied STOP, so no text can be sent to it. Call the patient instead."
    if number is not None and number.undeliverable:
        return "The carrier says this phone number cannot take texts. Call the patient and check the number."
    if not state.patient.sms_consent:
        return "This patient has not agreed to texts. Call the patient instead, or record their consent first."
    return None


def texted_notice(texted: str) -> str | None:
    """The sentence for the `?texted=` a sent text redirected with (`now`, `again`, or the local time `HHMM`)."""
    if texted == "now":
        return "Text sent to the outbox: it goes now."
    if texted == "again":
        return "Already sent: that text was submitted twice and sent once."
    if len(texted) == 4 and texted.isdigit():
        return f"Text saved: it is quiet hours for the patient, so it will go at {texted[:2]}:{texted[2:]} their time."
    return None
