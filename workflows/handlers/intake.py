"""Referral, evaluation, and the ends of a workflow."""

from __future__ import annotations

from workflows import conversation, escalations
from workflows.clock import age_on, clinic_time, local
from workflows.effects import DropPendingMessages
from workflows.errors import Rejected
from workflows.events import (
    EvaluationCompleted,
    EvaluationRescheduled,
    EvaluationScheduled,
    Reasoned,
    ReferralReceived,
    ReviewCompleted,
)
from workflows.handlers import follow_up, messaging, sessions
from workflows.handlers.placing import place
from workflows.messages import WORKFLOW_CLOSED
from workflows.stages import FINAL, Stage
from workflows.state import OPEN_SESSION, Appointment, SessionStatus
from workflows.step import Step
from workflows.subjects import Subject
from workflows.transitions import STAGE_LEFT


def referral_received(step: Step, data: ReferralReceived) -> None:
    """A new patient: record who they are, and give the coordinator a task to make contact."""
    patient = step.state.patient
    patient.language = _language(step, data.patient.language)  # first: a refusal changes nothing
    _check_birth_date(step, data)
    patient.phone = data.patient.phone
    patient.timezone = data.patient.timezone or step.clinic.timezone
    patient.date_of_birth = data.patient.date_of_birth
    patient.sms_consent = data.patient.sms_consent
    step.state.urgency = data.urgency
    step.state.prior_treatments = data.prior_treatments
    escalations.raise_escalation(step, "referral_contact")
    if data.prior_treatments < step.protocol.referral.min_prior_treatments:
        # Accepted, but fewer failed trials than "treatment-resistant" implies: a clinician looks first.
        step.flag("low_prior_treatments")
        escalations.raise_escalation(step, "treatment_resistance_review")


def _language(step: Step, tag: str) -> str:
    """The tag as given, once the clinic has a catalog for it or its primary language (`es-MX` is written in `es`):
    kept as given, so an `es-MX.yaml` added later is used without touching the patient's record."""
    if step.clinic.language_for(tag) is None:
        raise Rejected(f"patient.language {tag!r} has no message catalog; the clinic writes in "
                       f"{', '.join(step.clinic.languages)}", code="invalid_data", rule="patient_language",
                       allowed=step.clinic.languages, field="patient.language")
    return tag


# Older than this is a typo (1880 for 1980), not a patient: refused rather than stored as fact.
OLDEST_PLAUSIBLE_AGE = 120


def _check_birth_date(step: Step, data: ReferralReceived) -> None:
    """A date of birth is in the past (the patient's own today) and at most `OLDEST_PLAUSIBLE_AGE` years ago."""
    born = data.patient.date_of_birth
    if born is None:
        return
    today = local(step.now, data.patient.timezone or step.clinic.timezone).date()
    if born >= today:
        problem = "is today or in the future"
    elif age_on(born, today) > OLDEST_PLAUSIBLE_AGE:
        problem = f"is more than {OLDEST_PLAUSIBLE_AGE} years ago"
    else:
        return
    # The date itself is not repeated: a refusal may be logged, and a date of birth identifies a patient.
    step.reject(f"The date of birth {problem}. Check it with the referral and type it again (year, month, day).",
                "date_of_birth_plausible", "invalid_data", field="patient.date_of_birth")


def evaluation_scheduled(step: Step, data: EvaluationScheduled) -> None:
    """The evaluation is booked: reminders for it, and the coordinator's contact task is done."""
    _require_future(step, data.start)
    appointment = Appointment(id=data.appointment, kind="evaluation", start=data.start)
    place(step, appointment, data)
    step.state.appointments[appointment.id] = appointment
    messaging.plan_reminders(step, Subject.appointment(appointment.id), appointment.start)
    step.transition(Stage.EVALUATION_SCHEDULED)
    escalations.close_open(step, "referral_contact", "evaluation booked")


def evaluation_rescheduled(step: Step, data: EvaluationRescheduled) -> None:
    """The evaluation moves: it needs a new confirmation and new reminders."""
    _require_future(step, data.start)
    evaluation = next(a for a in step.state.appointments.values() if a.kind == "evaluation" and a.status != "completed")
    evaluation.start = data.start
    evaluation.status = "scheduled"
    place(step, evaluation, data)
    messaging.plan_reminders(step, Subject.appointment(evaluation.id), evaluation.start)


def evaluation_completed(step: Step, data: EvaluationCompleted) -> None:
    """Eligible: the route is planned. Not eligible: the workflow is declined."""
    _require_booked_time(step, data)
    for appointment in step.state.appointments.values():
        if appointment.kind == "evaluation":
            appointment.status = "completed"
            messaging.cancel_reminders(step, Subject.appointment(appointment.id))
    if not data.eligible:
        close_workflow(step, Stage.DECLINED, "not eligible")
        return
    step.state.route = data.route
    step.state.weight_kg = data.weight_kg
    step.transition(Stage.TREATMENT_PLANNED)


def patient_withdrew(step: Step, data: Reasoned) -> None:
    """The patient leaves the program: the workflow ends as withdrawn."""
    close_workflow(step, Stage.WITHDRAWN, "patient withdrew")


def workflow_discharged(step: Step, data: Reasoned) -> None:
    """End of care: the workflow ends as discharged."""
    close_workflow(step, Stage.DISCHARGED, "discharged from care")


def review_completed(step: Step, data: ReviewCompleted) -> None:
    """The response review decides: maintenance, or discharge."""
    escalations.close_open(step, "response_review", f"review: {data.decision}")
    if data.decision == "discharge":
        close_workflow(step, Stage.DISCHARGED, "discharged at review")
        return
    entering = step.state.stage != Stage.MAINTENANCE  # a maintenance review that continues keeps the clocks running
    step.transition(Stage.MAINTENANCE)
    if entering:
        follow_up.start_clocks(step)


def safety_hold(step: Step, data: Reasoned) -> None:
    """A clinician pauses dosing."""
    pause(step)


def safety_cleared(step: Step, data: Reasoned) -> None:
    """The hold is lifted: back to the stage it paused."""
    step.transition(STAGE_LEFT)
    conversation.park_sessions(step.state, step.now)  # confirmations whose texts fell due in the hold: asked again
    sessions.release_paused(step)


def pause(step: Step) -> None:
    if step.state.stage in FINAL or step.state.stage == Stage.PAUSED:
        return
    step.transition(Stage.PAUSED)
    conversation.park_sessions(step.state, step.now)
    sessions.show_all_paused(step)  # their reminders are suspended now: the coordinators see them instead


def close_workflow(step: Step, stage: Stage, why: str) -> None:
    """A final stage: nothing left on the calendar, no timer left running, and final means silent: every automated
    patient text still waiting in the outbox is dropped (`workflow_closed`), nothing is asked any more, and the
    worklist items that only made sense in care are closed with a note. Clinical and safety items stay open."""
    for session in step.state.sessions.values():
        if session.status == SessionStatus.DOSED:
            # A patient still under monitoring must be discharged from the chair before the workflow can close.
            step.reject(f"session {session.id} is dosed and still being monitored: discharge it first", "session_open")
        if session.status in OPEN_SESSION or session.status == SessionStatus.ARRIVED:
            session.status = SessionStatus.CANCELLED
            session.closed_reason = why
    for appointment in step.state.appointments.values():
        if appointment.status in ("scheduled", "confirmed"):
            appointment.status = "cancelled"
    escalations.close_active_only(step, f"workflow closed: {why}")
    # An urgent or emergency item left open keeps climbing its ladder (PROTOCOL.md §6): closing stops no page.
    step.cancel_all_timers(keep=escalations.ladders_of_open_items(step.state))
    conversation.withdraw_all(step.state)
    step.requests.append(DropPendingMessages(WORKFLOW_CLOSED))
    step.transition(stage)


def _require_future(step: Step, start) -> None:
    if start <= step.now:
        step.reject(f"start {clinic_time(start, step.clinic.timezone)} is not in the future", "start_in_future",
                    "invalid_data")


def _require_booked_time(step: Step, data: EvaluationCompleted) -> None:
    """An evaluation is done at or after its booked start; earlier only with the reason it was brought forward (an
    evaluation recorded early by mistake would plan treatment for a patient nobody has seen yet)."""
    booked = [a.start for a in step.state.appointments.values() if a.kind == "evaluation" and a.status != "cancelled"]
    if not booked or data.brought_forward or step.now >= min(booked):
        return
    step.reject(f"The evaluation is booked for {clinic_time(min(booked), step.clinic.timezone)}; it can be recorded "
                "as done from then on. If it really took place earlier, say why it was brought forward.",
                "evaluation_not_before_booked", field="brought_forward")
