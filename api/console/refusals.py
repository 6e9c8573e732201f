"""A refusal as staff read it: what is wrong and what to do now, in plain words; the rule id, the event type, the stage
and the events allowed are kept for a <details> toggle (support asks for them), never as the visible reason.

The core's messages (`workflows.errors.Rejected.message`) already say what is wrong, with times in clinic time; here
the few that name codes (a stage, an event type, a role) are reworded, and each rule gets its next step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workflows.errors import Rejected
from workflows.rulebook import rule as protocol_rule
from workflows.stages import EVENT_RULES

# What to do now, by rule id. A rule not listed gets DEFAULT_NEXT.
NEXT_STEP = {
    "stage_allows_event": "Open the patient's page: it offers only what applies to the patient now.",
    "role_may_post": "Ask a colleague whose role may record it.",
    "start_in_future": "Choose a start later than now.",
    "evaluation_not_before_booked": "Record it at or after the booked time, or fill in why it was brought forward.",
    "session_open": "Reload the page to see the session as it is now.",
    "session_unique": "Reload the page: the form gets a new session.",
    "appointment_unique": "Reload the page: the form gets a new appointment.",
    "session_exists": "Reload the page and choose the session again.",
    "escalation_exists": "Reload the page and choose the escalation again.",
    "route_planned": "Complete the evaluation (eligible, with its route) first.",
    "date_of_birth_plausible": "Check it with the referral and type it again.",
    "rems_form_once": "Nothing to do: the form was already marked submitted.",
    "rems_form_session": "Mark the form submitted once the patient is discharged.",
    "chair_one_patient": "Pick a free slot on the grid, in this chair or another.",
    "provider_on_site": "Pick another provider, or a time they are here.",
    "provider_one_appointment": "Pick another provider, or a time they are free.",
    "chair_known": "Choose a chair or room from the list.",
    "provider_known": "Choose a provider from the list.",
    "esketamine_provider_on_site": "Choose the provider who will supervise the session.",
}
DEFAULT_NEXT = "Correct the form and send it again."


@dataclass(frozen=True)
class Refusal:
    """Why something was not recorded, for staff (`what`, `next`) and for support (`details`)."""

    what: str
    next: str
    details: dict[str, str] = field(default_factory=dict)


def summary_of(event_type: str) -> str:
    """An event as staff call it: its rule's summary ("book the evaluation"), never its type name."""
    rule = EVENT_RULES.get(event_type)
    return rule.summary if rule else event_type.replace(".", " ").replace("_", " ")


def stage_name(stage: str | None) -> str:
    return (stage or "").replace("_", " ")


def from_rejected(exc: Rejected, event_type: str | None = None, labels: dict[str, str] | None = None) -> Refusal:
    """The engine's refusal in staff's words, with its codes in the details; `labels` name a form's fields as the form
    shows them ("Weight (kg)" for `weight_kg`)."""
    what = _reworded(exc, event_type) or _sentence(_unprefixed(exc, event_type, labels or {}))
    details = {"rule": exc.rule or "", "protocol rule": _protocol(exc.rule), "event": event_type or "",
               "stage": exc.stage or "", "allowed now": ", ".join(exc.allowed)}
    return Refusal(what, NEXT_STEP.get(exc.rule or "", DEFAULT_NEXT), {k: v for k, v in details.items() if v})


def as_text(refusal: Refusal) -> str:
    """What is wrong and what to do, on one line, for pages that show a refusal as text (the worklist, the inbox)."""
    return f"{refusal.what} {refusal.next}"


def from_form(message: str, event_type: str | None = None) -> Refusal:
    """A form that could not be read (a word in a number box): the field's message, and the form's event type."""
    return Refusal(_sentence(message), DEFAULT_NEXT, {"event": event_type} if event_type else {})


def not_for_role(role: str, event_type: str) -> Refusal:
    roles = ", ".join(sorted(EVENT_RULES[event_type].roles))
    return Refusal(f"Your role ({role}) cannot record “{_capital(summary_of(event_type))}”.",
                   f"Ask a colleague who is a {roles}.",
                   {"rule": "role_may_post", "protocol rule": _protocol("role_may_post"), "event": event_type})


def conflict(event_type: str) -> Refusal:
    return Refusal("The patient's record changed while this was being recorded.",
                   "Check the page and send the form again.", {"event": event_type})


def _protocol(rule_id: str | None) -> str:
    """The rule's plain name and its PROTOCOL.md section ("" for a check the protocol does not declare)."""
    found = protocol_rule(rule_id)
    return f"{found.name} ({found.where})" if found else ""


def _reworded(exc: Rejected, event_type: str | None) -> str | None:
    """The refusals whose core message is written in codes ("session.scheduled is not allowed in stage referred")."""
    if exc.rule == "stage_allows_event" and event_type:
        return (f"“{_capital(summary_of(event_type))}” does not apply while the patient is at stage "
                f"“{stage_name(exc.stage)}”.")
    if exc.rule == "role_may_post" and event_type:
        return f"Your role cannot record “{_capital(summary_of(event_type))}”."
    return None


def _unprefixed(exc: Rejected, event_type: str | None, labels: dict[str, str]) -> str:
    """A payload error without its code prefix ("invalid vitals.recorded data: systolic: …" → "Systolic (mmHg): …")."""
    message = exc.message
    for prefix in (f"invalid {event_type} data: ", f"invalid {event_type} event: "):
        message = message.removeprefix(prefix)
    if exc.field and message.startswith(f"{exc.field}: "):
        message = f"{labels.get(exc.field, exc.field.replace('_', ' '))}: {message.removeprefix(exc.field + ': ')}"
    return message


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(text: str) -> str:
    text = _capital(text.strip())
    return text if text.endswith((".", "?", "!")) else text + "."
