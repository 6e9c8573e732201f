"""What the patient page offers: the events the engine allows in a workflow's stage for the signed-in role, each with
a form generated from its typed payload.

Nothing here restates a rule. What is offered comes from `workflows.stages` (`allowed_events`, `role_may_post`); what
a form asks for comes from the payload model (`api.console.fields`); whether it is accepted is the engine's answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from api.console import applicable
from api.console.fields import Choice, FormField, Sources, describe, refill
from api.console.refusals import Refusal
from models.tables import User
from workflows.events import CONTRAINDICATIONS, PAYLOADS, EscalationRef, SessionRef, identity_fields
from workflows.stages import EVENT_RULES, NON_FINAL, Role, Stage, allowed_events, role_may_post
from workflows.state import CLOSED_SESSION, Escalation, Session, WorkflowState

# Events people post. Patients' texts and the SMS provider's reports reach the engine by their own doors.
PEOPLE = frozenset({Role.COORDINATOR, Role.CLINICIAN, Role.OPS})
# Events the patient page gives a panel of their own instead of a generated form (the reply box: it shows consent,
# STOP and quiet hours before anything is typed).
OWN_PANEL = frozenset({"message.sent_by_staff"})
# Ids for something new, generated unique in the workflow (a hidden field: nobody types an id).
NEW_ID_PREFIX = {"session": "s", "appointment": "appt"}


def offered_events(stage: Stage, role: str) -> list[str]:
    """The events this role may post in this stage, as `workflows.stages` declares them.

    Ordered for reading, not filtering: events particular to this stage (the pathway's next steps) first, then those
    allowed almost anywhere, each group in the order the rules declare them.
    """
    declared = list(EVENT_RULES)
    found = [event for event in allowed_events(stage)
             if EVENT_RULES[event].roles & PEOPLE and role_may_post(Role(role), event) and event not in OWN_PANEL]
    return sorted(found, key=lambda event: (len(EVENT_RULES[event].allowed_in) >= len(NON_FINAL), declared.index(event)))


@dataclass
class Action:
    """One offered event and its form, as the patient page draws it."""

    event: str
    summary: str
    fields: list[FormField]
    key: str  # idempotency key: one per form drawn, so a double submit applies once
    error: Refusal | None = None
    open: bool = False
    blocked: str | None = None  # why it cannot be sent now (nothing to choose from)
    signed_as: str | None = None  # the name its `by`/`clinician` records: the signed-in user's, never typed


@dataclass
class Attempt:
    """A submitted action that the engine refused (or that could not be read): redrawn with the input kept."""

    event: str
    form: Any
    refusal: Refusal
    field: str | None = None  # the input the refusal is about, whose message is drawn beside it
    key: str = ""
    field_message: str | None = None  # beside that input, when it differs from the refusal's `what`


def sources_for(event: str, state: WorkflowState, user: User, zone: str) -> Sources:
    """Choices from the workflow for fields that refer to something that exists (only the sessions and escalations
    this event can act on), and generated ids for something new."""
    model = PAYLOADS[event]
    tz = ZoneInfo(zone)
    sources = Sources(zone=zone, multiple={"contraindications": [Choice(c, c.replace("_", " ")) for c in CONTRAINDICATIONS]})
    if issubclass(model, SessionRef):
        sessions = applicable.sessions_for(event, state)
        sources.choices["session"] = [Choice(s.id, _session_label(s, tz)) for s in sessions]
        if sessions:
            sources.suggested["session"] = next((s.id for s in sessions if s.status not in CLOSED_SESSION), sessions[-1].id)
    else:
        # Ids for something new are generated, never typed: the next one the workflow has not used.
        existing = {"session": set(state.sessions), "appointment": set(state.appointments)}
        for name, prefix in NEW_ID_PREFIX.items():
            sources.generated[name] = next(f"{prefix}{n}" for n in range(1, 10_000) if f"{prefix}{n}" not in existing[name])
    if issubclass(model, EscalationRef):
        sources.choices["escalation"] = [Choice(e.id, _escalation_label(e, tz)) for e in applicable.escalations_for(event, state)]
    return sources


def _escalation_label(item: Escalation, tz: ZoneInfo) -> str:
    raised = item.raised_at.astimezone(tz)
    return f"{item.reason.replace('_', ' ')} · {item.severity} · {item.status} · raised {raised:%a %d %b %H:%M}"


def _session_label(session: Session, tz: ZoneInfo) -> str:
    """A session as staff pick it: when, which series, how it stands (its id is the engine's, not theirs)."""
    return f"{session.start.astimezone(tz):%a %d %b %H:%M} · {session.series} session · {session.status.replace('_', ' ')}"


def actions_for(state: WorkflowState, user: User, zone: str, attempt: Attempt | None = None) -> list[Action]:
    """The forms for every offered event; a refused attempt's form comes back open, with its input and the reason."""
    actions = []
    for event in offered_events(state.stage, user.role):
        if not applicable.applies(event, state) and not (attempt and attempt.event == event):
            continue  # nothing to act on (no session to confirm, no open escalation): not offered
        fields = describe(PAYLOADS[event], sources_for(event, state, user, zone))
        action = Action(event=event, summary=EVENT_RULES[event].summary, fields=fields, key=str(uuid.uuid4()),
                        signed_as=user.name if identity_fields(event) else None)
        empty = [f.label.lower() for f in fields if f.kind == "select" and f.required and not f.choices]
        if empty:
            action.blocked = f"Nothing to choose for {', '.join(empty)} yet."
        if attempt is not None and attempt.event == event:
            refill(fields, attempt.form, _form_field(fields, attempt.field), attempt.field_message or attempt.refusal.what)
            action.error, action.open, action.key = attempt.refusal, True, attempt.key or action.key
        actions.append(action)
    return actions


def _form_field(fields: list[FormField], engine_field: str | None) -> str | None:
    """The form input an engine error names (`answers.3` belongs to `answers`)."""
    if not engine_field:
        return None
    for item in fields:
        if engine_field == item.name or engine_field.startswith(item.name + "."):
            return item.name
    return None
