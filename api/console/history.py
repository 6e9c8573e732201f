"""A patient's history as sentences staff read: what happened, with its times in clinic time and the session or
escalation it was about named as staff know it (when, and which item), never by its event type or id.

The stored payload stays available beside each sentence (the page puts it in a <details> toggle); a sentence only
reads it. An event without a sentence of its own reads as its rule's summary.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from workflows.stages import EVENT_RULES
from workflows.state import WorkflowState

Data = dict[str, Any]
INSTRUMENTS = {"pcl5": "PCL-5", "phq9": "PHQ-9", "gad7": "GAD-7", "cssrs": "C-SSRS"}
ROUTES = {"esketamine": "esketamine", "iv_ketamine": "IV ketamine", "im_ketamine": "IM ketamine"}


class Reader:
    """Reads one event's payload against the workflow as it stands, in the clinic's zone."""

    def __init__(self, state: WorkflowState, zone: ZoneInfo) -> None:
        self.state, self.zone = state, zone

    def time(self, raw: Any) -> str:
        """A payload time ("2026-03-03T14:00:00+00:00") in clinic time, as the page's other times."""
        try:
            return datetime.fromisoformat(str(raw)).astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return str(raw)

    def session(self, data: Data) -> str:
        """A session as staff know it: its series and start ("the induction session of 2026-03-04 10:00")."""
        found = self.state.sessions.get(str(data.get("session", "")))
        if found is None:
            return "a session"
        return f"the {found.series} session of {self.time(found.start.isoformat())}"

    def escalation(self, data: Data) -> str:
        found = self.state.escalations.get(str(data.get("escalation", "")))
        return f"“{found.reason.replace('_', ' ')}”" if found else "an escalation"


def _because(data: Data, key: str = "reason") -> str:
    return f": {data[key]}" if data.get(key) else ""


def _evaluation(r: Reader, d: Data) -> str:
    outcome = (f"eligible for {ROUTES.get(d.get('route'), d.get('route'))}" if d.get("eligible")
               else f"not eligible{_because(d)}")
    early = f" (brought forward: {d['brought_forward']})" if d.get("brought_forward") else ""
    return f"Evaluation done: {outcome}{early}"


def _dose(d: Data) -> str:
    if d.get("dose_mg"):
        return f", {d['dose_mg']} mg"
    return f", {d['dose_mg_per_kg']} mg/kg" if d.get("dose_mg_per_kg") else ""


def _vitals(r: Reader, d: Data) -> str:
    reading = f"BP {d['systolic']}/{d['diastolic']}" if d.get("systolic") else "Vitals"
    if d.get("spo2") is not None:
        reading += f", SpO₂ {d['spo2']}%"
    phase = f" ({str(d['phase']).replace('_', ' ')})" if d.get("phase") else ""
    return f"{reading}{phase} at {r.session(d)}"


SENTENCES: dict[str, Callable[[Reader, Data], str]] = {
    "referral.received": lambda r, d: f"Referral received from {d.get('referrer', 'a referrer')}"
                                      + (", urgent" if d.get("urgency") == "urgent" else ""),
    "evaluation.scheduled": lambda r, d: f"Evaluation booked for {r.time(d.get('start'))}",
    "evaluation.rescheduled": lambda r, d: f"Evaluation moved to {r.time(d.get('start'))}",
    "evaluation.completed": _evaluation,
    "assessment.submitted": lambda r, d: f"{INSTRUMENTS.get(d.get('instrument'), 'Questionnaire')} answers recorded",
    "rems.enrolled": lambda r, d: "REMS enrollment on file",
    "session.scheduled": lambda r, d: f"Dosing session booked for {r.time(d.get('start'))}{_dose(d)}",
    "session.rescheduled": lambda r, d: f"Session moved to {r.time(d.get('start'))}",
    "session.cancelled": lambda r, d: f"Cancelled {r.session(d)}{_because(d)}",
    "session.confirmed": lambda r, d: f"Patient confirmed {r.session(d)}",
    "session.arrived": lambda r, d: f"Patient arrived for {r.session(d)}",
    "session.no_show": lambda r, d: f"Patient did not come to {r.session(d)} (no-show)",
    "vitals.recorded": _vitals,
    "dose.administered": lambda r, d: f"Dose given at {r.session(d)}{_dose(d)}",
    "session.discharged": lambda r, d: f"Patient discharged after monitoring, {r.session(d)}",
    "rems.form_submitted": lambda r, d: f"REMS monitoring form sent for {r.session(d)}",
    "therapy.scheduled": lambda r, d: f"Therapy booked for {r.time(d.get('start'))}",
    "review.completed": lambda r, d: f"Response review: {d.get('decision', 'done')}",
    "escalation.acknowledged": lambda r, d: f"Took {r.escalation(d)}",
    "escalation.resolved": lambda r, d: f"Closed {r.escalation(d)}{_because(d, 'note')}",
    "safety.hold": lambda r, d: f"Safety hold: dosing paused{_because(d)}",
    "safety.cleared": lambda r, d: f"Safety hold lifted{_because(d)}",
    "patient.withdrew": lambda r, d: f"Patient left the program{_because(d)}",
    "workflow.discharged": lambda r, d: f"Discharged from care{_because(d)}",
    "sms.received": lambda r, d: "Text from the patient",
    "message.sent_by_staff": lambda r, d: "Text sent to the patient by staff",
}


def sentence(event_type: str, data: Data, reader: Reader) -> str:
    """One history entry as a sentence; an event without its own reads as its rule's summary."""
    write = SENTENCES.get(event_type)
    if write is not None:
        try:
            text = write(reader, data)
        except (KeyError, TypeError):  # an older payload without a field a sentence reads: the summary instead
            text = ""
        if text:
            return text[:1].upper() + text[1:] + "."
    rule = EVENT_RULES.get(event_type)
    summary = rule.summary if rule else event_type.replace(".", " ").replace("_", " ")
    return summary[:1].upper() + summary[1:] + "."
