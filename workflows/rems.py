"""The SPRAVATO REMS Patient Monitoring Form for one esketamine session, filled from what was recorded (PROTOCOL.md §3).

Pure: it reads the workflow's state and says what each field of the form holds. A field with nothing recorded says
`NOT_RECORDED`; nothing is inferred (no reading means "not recorded", never "normal"). The console draws it as a
printable page and a PDF; the engine uses `form_deadline` for the overdue timer, so the page shows the same deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from workflows.clock import at_local_time
from workflows.protocol import SessionRules
from workflows.state import Session, Vital, WorkflowState

NOT_RECORDED = "not recorded"
PHASE_WORDS = {"pre_dose": "Before the dose", "post_dose": "After the dose (about 40 min)",
               "pre_discharge": "Before discharge"}
# What staff read for each observation a reading may carry (None: not assessed with that reading).
OBSERVED = {None: "not assessed", "none": "none seen", "present": "present", "normal": "normal",
            "depressed": "respiratory depression"}


def form_deadline(session: Session, rules: SessionRules, zone: str) -> datetime | None:
    """The form is due within `rems_form_due_days` of the session: overdue from midnight after the last day, in
    `zone` (the patient's, as the engine's timer). None before the discharge."""
    if session.discharged_at is None:
        return None
    return at_local_time(session.discharged_at, zone, time(0), days_later=rules.rems_form_due_days + 1)


@dataclass(frozen=True)
class Reading:
    at: datetime
    phase: str
    blood_pressure: str
    heart_rate: str
    spo2: str
    breathing: str
    sedation: str
    dissociation: str


@dataclass(frozen=True)
class RemsForm:
    """The form's fields; the patient's name is not in the pathway's state, the console adds it."""

    date_of_birth: date | None
    enrollment_id: str  # the patient's REMS enrollment id, or NOT_RECORDED
    session_id: str
    session_day: datetime  # the dose's moment (the booked start before one): draw its date in clinic time
    dose: str
    dosed_at: datetime | None
    bp: dict[str, Reading | None]  # the form's three BP readings: the last of each phase, or None
    readings: list[Reading]  # every reading, in the order taken
    lowest_spo2: str
    sedation: str  # seen during monitoring: "yes", "no" or NOT_RECORDED
    dissociation: str
    respiratory_depression: str
    ready_for_discharge: datetime | None
    monitored_minutes: int | None
    adverse_events: str
    clinician: str
    deadline: datetime | None
    submitted: bool


def fill(state: WorkflowState, session: Session, rules: SessionRules) -> RemsForm:
    readings = [_reading(vital) for vital in session.vitals]
    last = {phase: next((r for r in reversed(readings) if r.phase == phase), None) for phase in PHASE_WORDS}
    after_dose = [v for v in session.vitals if v.phase != "pre_dose"]
    oximetry = [v.spo2 for v in session.vitals if v.spo2 is not None]
    minutes = (int((session.discharged_at - session.dosed_at).total_seconds() // 60)
               if session.discharged_at and session.dosed_at else None)
    return RemsForm(
        date_of_birth=state.patient.date_of_birth,
        enrollment_id=state.rems_enrollment_id or NOT_RECORDED, session_id=session.id,
        session_day=session.dosed_at or session.start, dose=_dose(session), dosed_at=session.dosed_at,
        bp=last, readings=readings, lowest_spo2=f"{min(oximetry)}%" if oximetry else NOT_RECORDED,
        sedation=_seen([v.sedation for v in after_dose], "present"),
        dissociation=_seen([v.dissociation for v in after_dose], "present"),
        respiratory_depression=_seen([v.respiratory_status for v in after_dose], "depressed"),
        ready_for_discharge=session.discharged_at, monitored_minutes=minutes,
        # A discharge without adverse events written records none; the form says exactly that, not "none occurred".
        adverse_events=session.adverse_events or ("none recorded" if session.discharged_at else NOT_RECORDED),
        clinician=session.discharged_by or NOT_RECORDED,
        deadline=form_deadline(session, rules, state.patient.timezone), submitted=session.rems_form_submitted,
    )


def _reading(vital: Vital) -> Reading:
    return Reading(
        at=vital.at, phase=vital.phase, blood_pressure=f"{vital.systolic}/{vital.diastolic} mmHg",
        heart_rate=f"{vital.heart_rate}/min" if vital.heart_rate is not None else NOT_RECORDED,
        spo2=f"{vital.spo2}%" if vital.spo2 is not None else NOT_RECORDED,
        breathing=OBSERVED[vital.respiratory_status], sedation=OBSERVED[vital.sedation],
        dissociation=OBSERVED[vital.dissociation],
    )


def _dose(session: Session) -> str:
    if session.dose_mg is not None and session.dosed_at is not None:
        return f"{session.dose_mg} mg"
    return NOT_RECORDED


def _seen(observations: list[str | None], concern: str) -> str:
    """"yes" if any reading saw it, "no" if readings assessed it and none did, else not recorded."""
    assessed = [seen for seen in observations if seen is not None]
    if not assessed:
        return NOT_RECORDED
    return "yes" if concern in assessed else "no"
