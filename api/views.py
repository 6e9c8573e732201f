"""What the API shows of workflows, events and escalations, and who sees patient details (names, phones, texts)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from api.schemas import Instant, ReferralWarning
from models.queries import inbox
from models.tables import EscalationRecord, EventRecord, PatientRow, WorkflowRow
from workflows.stages import Stage, allowed_events
from workflows.state import WorkflowState

# Event data that identifies a patient (referral.received's patient, a text's number and words): hidden from ops.
PATIENT_DATA_KEYS = ("patient", "from", "body")


class PatientView(BaseModel):
    name: str
    phone: str
    timezone: str
    date_of_birth: date | None = None
    sms_consent: bool
    opted_out: bool


class SessionView(BaseModel):
    session: str
    status: str
    start: Instant
    route: str
    series: str
    dose_mg: int | None = None
    dose_mg_per_kg: float | None = None
    dosed_at: Instant | None = None
    discharged_at: Instant | None = None


class AppointmentView(BaseModel):
    appointment: str
    kind: str
    start: Instant
    status: str


class TimerView(BaseModel):
    key: str
    kind: str
    due_at: Instant
    session: str | None = None


class ScoreView(BaseModel):
    at: Instant
    total: int | None = None
    band: str | None = None
    risk: str | None = None
    flags: list[str] = []


class EscalationView(BaseModel):
    id: str
    workflow_id: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    inbox_id: str | None = None  # without a workflow: the text from an unknown number that raised it
    reason: str
    severity: str
    tier: int
    owner_role: str
    status: str
    session: str | None = None
    count: int
    raised_at: Instant
    updated_at: Instant
    ack_deadline: Instant
    acknowledged_at: Instant | None = None
    acknowledged_by: str | None = None
    resolved_at: Instant | None = None
    resolved_by: str | None = None
    note: str | None = None


class WorkflowSummary(BaseModel):
    workflow_id: str
    patient_id: str
    patient_name: str | None = None
    stage: Stage
    route: str | None = None
    urgency: str
    flags: list[str]
    created_at: Instant
    updated_at: Instant


class WorkflowDetail(WorkflowSummary):
    patient: PatientView | None = None
    paused_from: Stage | None = None
    protocol_version: str
    version: int
    sessions: list[SessionView]
    appointments: list[AppointmentView]
    open_escalations: list[EscalationView]
    pending_timers: list[TimerView]
    scores: dict[str, list[ScoreView]]
    allowed_events: list[str]


class ActorView(BaseModel):
    """Who caused the event: the role, the display name at the time and, for a signed-in user, their id."""

    role: str
    name: str | None = None
    user_id: str | None = None


class EventView(BaseModel):
    id: int
    seq: int
    type: str
    data: dict[str, Any]
    actor: ActorView
    idempotency_key: str | None = None
    occurred_at: Instant
    recorded_at: Instant
    stage_after: str


def workflow_summary(workflow: WorkflowRow, patient: PatientRow, now: datetime, show_patient: bool) -> WorkflowSummary:
    state = WorkflowState.model_validate(workflow.state)
    return WorkflowSummary(**_summary_fields(workflow, patient, state, now, show_patient))


def _summary_fields(workflow: WorkflowRow, patient: PatientRow, state: WorkflowState, now: datetime,
                    show_patient: bool) -> dict[str, Any]:
    return {"workflow_id": workflow.id, "patient_id": workflow.patient_id,
            "patient_name": patient.name if show_patient else None, "stage": state.stage, "route": state.route,
            "urgency": state.urgency, "flags": state.active_flags(now), "created_at": workflow.created_at,
            "updated_at": workflow.updated_at}


def workflow_detail(workflow: WorkflowRow, patient: PatientRow, now: datetime, show_patient: bool) -> WorkflowDetail:
    """Stage, sessions, open escalations, pending timers, scores and flags, from the stored state."""
    state = WorkflowState.model_validate(workflow.state)
    scores: dict[str, list[ScoreView]] = {}
    for record in state.assessments:
        scores.setdefault(record.instrument, []).append(ScoreView(**record.model_dump(include=set(ScoreView.model_fields))))
    return WorkflowDetail(
        **_summary_fields(workflow, patient, state, now, show_patient),
        patient=PatientView.model_validate(patient, from_attributes=True) if show_patient else None,
        paused_from=state.paused_from, protocol_version=state.protocol_version, version=workflow.version,
        sessions=[SessionView(session=s.id, **s.model_dump(include=set(SessionView.model_fields) - {"session"}))
                  for s in sorted(state.sessions.values(), key=lambda s: s.start)],
        appointments=[AppointmentView(appointment=a.id, kind=a.kind, start=a.start, status=a.status)
                      for a in sorted(state.appointments.values(), key=lambda a: a.start)],
        open_escalations=[EscalationView(**e.model_dump(), workflow_id=workflow.id, patient_id=workflow.patient_id,
                                         patient_name=patient.name if show_patient else None)
                          for e in state.escalations.values() if e.status != "resolved"],
        pending_timers=[TimerView(key=key, kind=t.kind, due_at=t.due_at, session=t.session)
                        for key, t in sorted(state.timers.items(), key=lambda item: item[1].due_at)],
        scores=scores,
        allowed_events=allowed_events(state.stage),
    )


def event_view(record: EventRecord, show_patient: bool) -> EventView:
    data = record.data if show_patient else {k: v for k, v in record.data.items() if k not in PATIENT_DATA_KEYS}
    return EventView(id=record.id, seq=record.seq, type=record.type, data=data,
                     actor=ActorView(role=record.actor_role, name=record.actor_name, user_id=record.actor_user_id),
                     idempotency_key=record.idempotency_key, occurred_at=record.occurred_at,
                     recorded_at=record.recorded_at, stage_after=record.stage_after)


def escalation_view(record: EscalationRecord, patient: PatientRow | None, show_patient: bool) -> EscalationView:
    values = record.model_dump(exclude={"session_key"})
    return EscalationView(**values, session=record.session_key,
                          patient_name=patient.name if show_patient and patient else None)


def number_warnings(engine: Engine, phone: str, patient_id: str) -> list[ReferralWarning]:
    """What staff should know about a new patient's number: who else is on it, and whether it said STOP."""
    warnings = []
    others = sorted({patient.id for _workflow, patient in inbox.others_on_number(engine, phone, patient_id)})
    if others:
        many = "another patient" if len(others) == 1 else f"{len(others)} other patients"
        warnings.append(ReferralWarning(
            code="shared_phone", patients=others,
            message=f"This phone number is also {many}'s. Texts from it that could be from either patient wait in the "
                    "staff inbox to be assigned; a STOP from it stops texts to everyone on it."))
    number = inbox.number_record(engine, phone)
    if number is not None and number.opted_out:
        warnings.append(ReferralWarning(
            code="number_opted_out",
            message="This phone number replied STOP: no text will be sent to it until it replies START. "
                    "Call the patient instead."))
    return warnings
