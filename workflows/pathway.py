"""The core: `decide(state, event, now, protocol, clinic) → Decision(new state, effects)`. Pure; no I/O.

One dict maps each event type to its handler, so the whole reaction graph reads on one screen. Each handler takes the
event's typed payload (`handler(step, data)`), and its `data` annotation must be the payload `events.PAYLOADS` parses
for that event, which is checked when this module loads. Handlers change a deep copy of the state; timer and escalation
effects are derived from the difference, messages are collected.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, get_type_hints

from workflows import escalations
from workflows.clinic import Clinic
from workflows.clock import clinic_time
from workflows.effects import CancelTimer, Decision, FireTimer, diff_effects
from workflows.errors import Rejected
from workflows.events import PAYLOADS, SYSTEM, Event, TimerFired, make_event
from workflows.handlers import care, dosing, follow_up, inbound, intake, messaging, sessions, staff_sms
from workflows.protocol import Protocol
from workflows.stages import EVENT_RULES, TIMER_EVENTS, Role, allowed_events, role_may_post
from workflows.state import Patient, Timer, WorkflowState
from workflows.step import Step
from workflows.subjects import Subject
from workflows.transitions import entry_stage

Handler = Callable[[Step, Any], None]  # (step, the event's payload), as `events.PAYLOADS` types it for the event

HANDLERS: dict[str, Handler] = {
    "referral.received": intake.referral_received,
    "evaluation.scheduled": intake.evaluation_scheduled,
    "evaluation.rescheduled": intake.evaluation_rescheduled,
    "evaluation.completed": intake.evaluation_completed,
    "assessment.submitted": care.assessment_submitted,
    "rems.enrolled": dosing.rems_enrolled,
    "session.scheduled": sessions.session_scheduled,
    "session.rescheduled": sessions.session_rescheduled,
    "session.cancelled": sessions.session_cancelled,
    "session.confirmed": sessions.session_confirmed,
    "session.arrived": sessions.session_arrived,
    "vitals.recorded": dosing.vitals_recorded,
    "dose.administered": dosing.dose_administered,
    "session.discharged": dosing.session_discharged,
    "rems.form_submitted": dosing.rems_form_submitted,
    "therapy.scheduled": care.therapy_scheduled,
    "review.completed": intake.review_completed,
    "escalation.acknowledged": care.escalation_acknowledged,
    "escalation.resolved": care.escalation_resolved,
    "safety.hold": intake.safety_hold,
    "safety.cleared": intake.safety_cleared,
    "patient.withdrew": intake.patient_withdrew,
    "workflow.discharged": intake.workflow_discharged,
    "sms.received": inbound.sms_received,
    "message.sent_by_staff": staff_sms.message_sent_by_staff,
    "sms.opted_out_at_carrier": inbound.opted_out_at_carrier,
    "sms.undeliverable": inbound.undeliverable,
    "sms.number_blocked": inbound.number_blocked,
}

TIMER_HANDLERS: dict[str, Callable[[Step, Timer], None]] = {
    "no_show": lambda step, timer: sessions.no_show_due(step, timer.session),
    "confirmation_check": lambda step, timer: sessions.confirmation_due(step, timer.session),
    "rems_enrollment_check": lambda step, timer: sessions.rems_enrollment_check_due(step, timer.session),
    "bp_recheck": lambda step, timer: dosing.bp_recheck_due(step, timer.session),
    "rems_form_reminder": lambda step, timer: dosing.rems_form_due(step, timer.session, "rems_form_due"),
    "rems_form_overdue": lambda step, timer: dosing.rems_form_due(step, timer.session, "rems_form_overdue"),
    "escalation_deadline": lambda step, timer: escalations.on_deadline_passed(step, timer.data["escalation"]),
    "reminder": lambda step, timer: messaging.reminder_due(step, Subject.parse(timer.data["subject"]), timer.data["hours"]),
    "checkin": lambda step, timer: messaging.checkin_due(step, timer.session),
    "checkin_nudge": lambda step, timer: messaging.checkin_nudge_due(step, timer.session),
    "checkin_missed": lambda step, timer: messaging.checkin_missed_due(step, timer.session, timer.data["elevated"]),
    "question_expiry": lambda step, timer: messaging.question_expired(step),
    "assessment_due": lambda step, timer: follow_up.fell_due(step, timer.data["instrument"]),
}
assert set(TIMER_HANDLERS) == set(TIMER_EVENTS), "every timer kind needs a handler"


def mistyped(handlers: dict[str, Handler]) -> dict[str, str]:
    """The handlers (by event type) whose `data` annotation is not the payload `events.PAYLOADS` parses for it."""
    return {event_type: handler.__name__ for event_type, handler in handlers.items()
            if get_type_hints(handler).get("data") is not PAYLOADS.get(event_type)}


if mistyped(HANDLERS):
    raise TypeError(f"handlers whose `data` is not their event's payload: {mistyped(HANDLERS)}")
TIMER_KIND_OF_EVENT = {event_type: kind for kind, event_type in TIMER_EVENTS.items()}

# How far ahead of the server clock a client's occurred_at may be (clock skew), before it is refused.
FUTURE_TOLERANCE = timedelta(minutes=5)


def start(
    workflow_id: str, patient_id: str, event: Event, now: datetime, protocol: Protocol, clinic: Clinic
) -> Decision:
    """Start a workflow from its `referral.received` event."""
    if event.type != "referral.received":
        raise Rejected(
            f"a workflow starts with referral.received, not {event.type}", code="not_allowed", rule="workflow_start",
            allowed=["referral.received"],
        )
    blank = WorkflowState(
        workflow_id=workflow_id,
        protocol_version=protocol.version,
        clinic=clinic.key,
        stage=entry_stage(event.type),
        patient=Patient(id=patient_id, phone=event.data.patient.phone, timezone=clinic.timezone),
    )
    return _apply(blank, event, now, protocol, clinic, before=None)


def decide(state: WorkflowState, event: Event, now: datetime, protocol: Protocol, clinic: Clinic) -> Decision:
    """Apply one event to a started workflow, or raise `Rejected` and change nothing."""
    if event.type == "referral.received":
        raise Rejected(
            "this workflow has already started; a new referral starts a new workflow",
            code="not_allowed", stage=state.stage, rule="workflow_start", allowed=allowed_events(state.stage),
        )
    if protocol.version != state.protocol_version:
        raise ValueError(f"workflow runs protocol {state.protocol_version}, got {protocol.version}")
    return _apply(state, event, now, protocol, clinic, before=state)


def _apply(
    state: WorkflowState, event: Event, now: datetime, protocol: Protocol, clinic: Clinic, before: WorkflowState | None
) -> Decision:
    _check_allowed(state, event)
    at = _effective_time(event, now, state, clinic.timezone).astimezone(UTC)
    step = Step(state=state.working_copy(), event=event, now=at, protocol=protocol, clinic=clinic)
    fired = None
    if event.type in TIMER_KIND_OF_EVENT:
        fired = _fire_timer(step, event.data)
    else:
        handler = HANDLERS.get(event.type)
        if handler is None:
            raise Rejected(f"{event.type} is not handled by this version of carepath", code="not_allowed",
                           stage=state.stage, rule="event_known", allowed=allowed_events(state.stage))
        handler(step, event.data)
    # One digit question at a time: whatever happened, the next waiting question is asked once the floor is free.
    messaging.ask_waiting(step)
    effects = diff_effects(before, step.state)
    if fired is not None:
        # The timer that fired is recorded as fired, not cancelled, unless the handler set it again (a repeat).
        effects = [e for e in effects if not (isinstance(e, CancelTimer) and e.key == fired.key)]
        effects.insert(0, fired)
    effects.extend(step.requests)  # before the decision's own messages, which they must not touch
    effects.extend(step.messages)
    return Decision(step.state, effects)


def _check_allowed(state: WorkflowState, event: Event) -> None:
    if event.type in TIMER_KIND_OF_EVENT:
        if event.actor.role is not Role.SYSTEM:
            raise Rejected(f"{event.type} is made by carepath's timers, not posted", code="not_allowed",
                           stage=state.stage, rule="system_event", allowed=allowed_events(state.stage))
        return
    rule = EVENT_RULES.get(event.type)
    if rule is not None and event.type != "referral.received" and state.stage not in rule.allowed_in:
        raise Rejected(f"{event.type} is not allowed in stage {state.stage}", code="not_allowed",
                       stage=state.stage, rule="stage_allows_event", allowed=allowed_events(state.stage))
    if not role_may_post(event.actor.role, event.type):
        allowed_roles = ", ".join(sorted(rule.roles)) if rule else "none"
        raise Rejected(f"role {event.actor.role} may not post {event.type} (allowed roles: {allowed_roles}, admin)",
                       code="forbidden", stage=state.stage, rule="role_may_post", allowed=allowed_events(state.stage))


def _effective_time(event: Event, now: datetime, state: WorkflowState, zone: str) -> datetime:
    if event.occurred_at is None:
        return now
    if event.occurred_at > now + FUTURE_TOLERANCE:
        # In clinic time: staff read this refusal (the chair's time fields).
        raise Rejected(f"occurred_at {clinic_time(event.occurred_at, zone)} is in the future", code="invalid_data",
                       stage=state.stage, rule="occurred_at_past", field="occurred_at")
    return event.occurred_at


def _fire_timer(step: Step, data: TimerFired) -> FireTimer:
    """Run a due timer's handler, unless the timer was cancelled or moved since (then the event changes nothing)."""
    key, due_at = data.key, data.due_at
    timer = step.state.timers.get(key)
    if timer is None or timer.due_at != due_at or TIMER_EVENTS[timer.kind] != step.event.type:
        return FireTimer(key, due_at)
    del step.state.timers[key]
    TIMER_HANDLERS[timer.kind](step, timer)
    return FireTimer(key, due_at)


def timer_event(key: str, timer: Timer) -> Event:
    """The event a due timer turns into; its idempotency key makes a second firing a no-op."""
    return make_event(
        TIMER_EVENTS[timer.kind],
        {"key": key, "due_at": timer.due_at},
        actor=SYSTEM,
        idempotency_key=f"timer:{key}@{timer.due_at.isoformat()}",
    )


def replay(
    workflow_id: str,
    patient_id: str,
    history: list[tuple[Event, datetime]],
    protocol: Protocol,
    clinic: Clinic,
) -> WorkflowState:
    """Rebuild a workflow's state by folding its history, each event with the `now` it was recorded at. Pure.

    The history starts with the `referral.received` that started the workflow; the result equals the stored state,
    so the event history alone is enough to audit (or recover) any workflow.
    """
    if not history:
        raise ValueError("a history starts with the referral.received that started the workflow")
    (first, first_now), *rest = history
    state = start(workflow_id, patient_id, first, first_now, protocol, clinic).state
    for event, now in rest:
        state = decide(state, event, now, protocol, clinic).state
    return state
