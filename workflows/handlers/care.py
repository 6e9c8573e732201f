"""Assessments, therapy, escalation work and engine timers that are not about one session."""

from __future__ import annotations

from workflows import escalations
from workflows.clock import clinic_time
from workflows.events import AssessmentSubmitted, EscalationRef, EscalationResolved, TherapyScheduled
from workflows.handlers import follow_up, messaging
from workflows.handlers.intake import pause
from workflows.handlers.placing import place
from workflows.instruments import InstrumentError, compare, is_elevated_risk, score
from workflows.stages import Stage
from workflows.state import Appointment, AssessmentRecord
from workflows.step import Step
from workflows.subjects import Subject

PRE_TREATMENT = (Stage.REFERRED, Stage.EVALUATION_SCHEDULED, Stage.TREATMENT_PLANNED)


def assessment_submitted(step: Step, data: AssessmentSubmitted) -> None:
    """Score the instrument, keep the baseline, and act on the safety items (PHQ-9 item 9, C-SSRS risk)."""
    state = step.state
    try:
        result = score(data.instrument, data.answers, step.protocol.instruments)
    except InstrumentError as exc:
        field = f"answers.{exc.item}" if exc.item else "answers"
        step.reject(str(exc), "instrument_answers", "invalid_data", field=field)
    record = AssessmentRecord(
        instrument=result.instrument, at=step.now, total=result.total, band=result.band,
        item9=result.item9, risk=result.risk, flags=list(result.flags),
    )
    _compare_with_baseline(step, record)
    state.assessments.append(record)
    if result.instrument in state.requested_instruments:
        state.requested_instruments.remove(result.instrument)
    if result.instrument == "cssrs":
        escalations.close_open(step, "cssrs_requested", "C-SSRS submitted")
    follow_up.submitted(step, result.instrument)
    _act_on_safety_items(step, result)


def _compare_with_baseline(step: Step, record: AssessmentRecord) -> None:
    state = step.state
    if record.total is None:
        return
    if step.course in PRE_TREATMENT or record.instrument not in state.baseline:
        # The latest score before treatment starts is the baseline the response review compares against.
        state.baseline[record.instrument] = record.total
        record.flags.append("baseline")
        return
    outcome = compare(record.instrument, state.baseline[record.instrument], record.total, step.protocol.instruments)
    if outcome.response:
        record.flags.append("response")
    if outcome.remission:
        record.flags.append("remission")


def _act_on_safety_items(step: Step, result) -> None:
    days = step.protocol.escalations.elevated_risk_days
    if is_elevated_risk(result):
        step.flag("elevated_risk", days=days)
    if result.item9:
        escalations.raise_escalation(step, "phq9_item9")
        if "cssrs" not in step.state.requested_instruments:
            step.state.requested_instruments.append("cssrs")
        # The request is an obligation someone owns: on the clinician's worklist until a C-SSRS arrives.
        escalations.raise_escalation(step, "cssrs_requested")
    if result.risk == "high":
        escalations.raise_escalation(step, "cssrs_high")
        pause(step)
    elif result.risk == "moderate":
        escalations.raise_escalation(step, "cssrs_moderate")
    elif result.risk == "low":
        escalations.raise_escalation(step, "cssrs_low")


def therapy_scheduled(step: Step, data: TherapyScheduled) -> None:
    """Book a therapy appointment, with its reminders."""
    existing = step.state.appointments.get(data.appointment)
    if existing is not None and existing.status in ("scheduled", "confirmed"):
        step.reject(f"appointment {data.appointment!r} is already booked", "appointment_unique")
    if data.start <= step.now:
        step.reject(f"start {clinic_time(data.start, step.clinic.timezone)} is not in the future", "start_in_future",
                    "invalid_data")
    appointment = Appointment(id=data.appointment, kind="therapy", start=data.start)
    place(step, appointment, data)
    step.state.appointments[data.appointment] = appointment
    messaging.plan_reminders(step, Subject.appointment(data.appointment), data.start)


def escalation_acknowledged(step: Step, data: EscalationRef) -> None:
    """Someone took the escalation: its ladder stops."""
    escalations.acknowledge(step, data.escalation, data.by)


def escalation_resolved(step: Step, data: EscalationResolved) -> None:
    """The escalation is closed with a note."""
    escalations.resolve(step, data.escalation, data.by, data.note)
