"""A text a coordinator or clinician writes to the patient (`message.sent_by_staff`).

Policy, chosen for a person writing directly to a patient:
- consent and STOP hold as for every text: without SMS consent, or after the patient's STOP, it is refused (call
  instead) and nothing is written;
- it is not automated, so the daily cap does not count it;
- quiet hours do hold (a person texting at 23:00 can wait for 08:00) unless the sender marks it urgent;
- a text that names a drug, a diagnosis or a score (the catalog's forbidden words) is refused unless the sender
  confirms it (`send_anyway`): a lock screen shows it, but staff may need to say it;
- the clinic's name goes first, as in every text the clinic sends.
"""

from __future__ import annotations

from datetime import datetime

from workflows.effects import SendMessage
from workflows.events import StaffMessage
from workflows.messages import end_of_quiet_hours, in_quiet_hours
from workflows.protocol import Protocol
from workflows.state import WorkflowState
from workflows.step import Step

KIND = "staff_message"


def message_sent_by_staff(step: Step, data: StaffMessage) -> None:
    """Plan the staff member's text, or refuse it with the reason in plain words."""
    patient = step.state.patient
    if patient.opted_out:
        step.reject("This patient's number replied STOP, so no text can be sent to it. Call the patient instead.",
                    "sms_opted_out")
    if not patient.sms_consent:
        step.reject("This patient has not agreed to texts. Call the patient instead, or record their consent first.",
                    "sms_consent")
    named = step.clinic.banned_in(data.body)  # every language's forbidden words
    if named and not data.send_anyway:
        step.reject(f"The text names {', '.join(named)}: anyone who sees the patient's phone could read it. Reword it, "
                    "or confirm that it must be sent as written.", "sms_content", field="body")
    step.messages.append(SendMessage(
        kind=KIND, to=patient.phone, body=with_clinic_name(data.body, step.clinic.name),
        not_before=send_time(step.state, step.protocol, step.now, data.urgent), urgent=data.urgent, automated=False,
    ))


def send_time(state: WorkflowState, protocol: Protocol, now: datetime, urgent: bool) -> datetime:
    """When a staff text written now leaves: at once, or at the end of the patient's quiet hours unless urgent."""
    rules, zone = protocol.messaging, state.patient.timezone
    if urgent or not in_quiet_hours(now, zone, rules):
        return now
    return end_of_quiet_hours(now, zone, rules)


def with_clinic_name(body: str, clinic: str) -> str:
    text = body.strip()
    return text if text.lower().startswith(clinic.lower()) else f"{clinic}: {text}"
