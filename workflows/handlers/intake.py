"""Referral, evaluation, and the ends of a workflow."""

from __future__ import annotations

from workflows import escalations
from workflows.clock import clinic_time
from workflows.handlers import messaging
from workflows.stages import FINAL, Stage
from workflows.state import OPEN_SESSION, Appointment, SessionStatus
from workflows.step import Step


def referral_received(step: Step) -> None:
    """A new patient: record who they are, and give the coordinator a task to make contact."""
    data, patient = step.data, step.state.patient
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


def evaluation_scheduled(step: Step) -> None:
    _require_future(step, step.data.start)
    appointment = Appointment(id=step.data.appointment, kind="evaluation", start=step.data.start)
    step.state.appointments[appointment.id] = appointment
    messaging.plan_reminders(step, f"appointment:{appointment.id}", appointment.start)
    step.state.stage = Stage.EVALUATION_SCHEDULED
    escalations.close_open(step, "referral_contact", "evaluation booked")


def evaluation_rescheduled(step: Step) -> None:
    _require_future(step, step.data.start)
    evaluation = next(a for a in step.state.appointments.values() if a.kind == "evaluation" and a.status != "completed")
    evaluation.start = step.data.start
    evaluation.status = "scheduled"
    messaging.plan_reminders(step, f"appointment:{evaluation.id}", evaluation.start)


def evaluation_completed(step: Step) -> None:
    data = step.data
    for appointment in step.state.appointments.values():
        if appointment.kind == "evaluation":
            appointment.status = "completed"
            messaging.cancel_reminders(step, f"appointment:{appointment.id}")
    if not data.eligible:
        close_workflow(step, Stage.DECLINED, "not eligible")
        return
    step.state.route = data.route
    step.state.weight_kg = data.weight_kg
    step.state.stage = Stage.TREATMENT_PLANNED


def patient_withdrew(step: Step) -> None:
    close_workflow(step, Stage.WITHDRAWN, "patient withdrew")


def workflow_discharged(step: Step) -> None:
    close_workflow(step, Stage.DISCHARGED, "discharged from care")


def review_completed(step: Step) -> None:
    escalations.close_open(step, "response_review", f"review: {step.data.decision}")
    if step.data.decision == "discharge":
        close_workflow(step, Stage.DISCHARGED, "discharged at review")
    else:
        step.state.stage = Stage.MAINTENANCE


def safety_hold(step: Step) -> None:
    pause(step)


def safety_cleared(step: Step) -> None:
    step.state.stage = step.state.paused_from or Stage.TREATMENT_PLANNED
    step.state.paused_from = None


def pause(step: Step) -> None:
    if step.state.stage in FINAL or step.state.stage == Stage.PAUSED:
        return
    step.state.paused_from = step.state.stage
    step.state.stage = Stage.PAUSED


def close_workflow(step: Step, stage: Stage, why: str) -> None:
    """A final stage: nothing left on the calendar, no timer left running. Open escalations stay on the worklist."""
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
    step.cancel_all_timers()
    step.state.stage = stage
    step.state.paused_from = None


def _require_future(step: Step, start) -> None:
    if start <= step.now:
        step.reject(f"start {clinic_time(start, step.clinic.timezone)} is not in the future", "start_in_future",
                    "invalid_data")
