"""What the API shows of workflows, events and escalations, and who sees patient details (names, phones, texts)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from api.schemas import Instant, ReferralWarning
from models.queries import inbox
from models.tables import EscalationRecord, EventRecord, PatientRow, WorkflowRow
from workflows.stages import Stage, allowed_events
from workflows.state import WorkflowState

# --- what ops see: minimum necessary, by allowlist ----------------------------------------------------------------
# A role that does not see patients (ops) gets every view built from one of these lists: ids, stages, codes, counts,
# timings and statuses. Nothing is hidden key by key: a field not listed here never reaches ops, whatever a record or
# an event gains later. tests/api/test_ops_allowlist_walk.py plants patient data in every free-text field and walks
# every route and page as ops.

# Event data: which session, appointment, escalation, timer or message an event is about, when, and closed codes.
# Not: the patient, referrer, reasons, notes, texts, clinician names, answers, vitals, doses, weights, enrolment ids.
OPS_EVENT_DATA = ("appointment", "session", "escalation", "message", "code", "key", "due_at", "start", "phase",
                  "instrument", "decision", "urgency", "route", "eligible", "urgent", "copy")
# Who acted: the role, and the name only of staff (a patient's name is never an actor's name for ops).
OPS_ACTOR_NAMED_ROLES = ("coordinator", "clinician", "ops", "admin", "system")
OPS_EVENT = ("id", "seq", "type", "occurred_at", "recorded_at", "stage_after")
# An escalation: its reason is a code (`workflows.escalations.REASONS`); not the resolution note, not the patient.
OPS_ESCALATION = ("id", "workflow_id", "patient_id", "inbox_id", "reason", "severity", "tier", "owner_role", "status",
                  "session", "count", "raised_at", "updated_at", "ack_deadline", "acknowledged_at", "acknowledged_by",
                  "resolved_at", "resolved_by")
# A session: when and how far it got; not the doses.
OPS_SESSION = ("session", "status", "start", "route", "series", "dosed_at", "discharged_at")
# A score: only when an instrument was taken; not the total, band, risk or flags.
OPS_SCORE = ("at",)


def allowed(values: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Only the listed fields of `values` (those it has)."""
    return {name: values[name] for name in fields if name in values}


class PatientView(BaseModel):
    name: str
    phone: str
    timezone: str
    date_of_birth: date | None = None
    sms_consent: bool
    opted_out: bool
    language: str = "en"  # from the workflow's state: the language the patient's texts are written in


class VitalView(BaseModel):
    """One reading at the chair, as charted: what was not assessed is null."""

    phase: str
    systolic: int
    diastolic: int
    heart_rate: int | None = None
    spo2: int | None = None
    respiratory_status: str | None = None
    sedation: str | None = None
    dissociation: str | None = None
    at: Instant


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
    # The monitoring record (not for ops: `OPS_SESSION`): readings over time, who discharged, adverse events.
    vitals: list[VitalView] = []
    discharged_by: str | None = None
    adverse_events: str | None = None
    rems_form_submitted: bool = False
    chair: str | None = None  # the schedule grid's chair, the provider booked on it, and how long it holds them
    provider: str | None = None
    minutes: int | None = None


class AppointmentView(BaseModel):
    appointment: str
    kind: str
    start: Instant
    status: str
    chair: str | None = None
    provider: str | None = None
    minutes: int | None = None


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
    score_fields = ScoreView.model_fields if show_patient else OPS_SCORE
    session_fields = SessionView.model_fields if show_patient else OPS_SESSION
    scores: dict[str, list[ScoreView]] = {}
    for record in state.assessments:
        scores.setdefault(record.instrument, []).append(ScoreView(**allowed(record.model_dump(), score_fields)))
    return WorkflowDetail(
        **_summary_fields(workflow, patient, state, now, show_patient),
        patient=PatientView.model_validate(patient, from_attributes=True).model_copy(
            update={"language": state.patient.language}) if show_patient else None,
        paused_from=state.paused_from, protocol_version=state.protocol_version, version=workflow.version,
        sessions=[SessionView(**allowed({**s.model_dump(), "session": s.id}, session_fields))
                  for s in sorted(state.sessions.values(), key=lambda s: s.start)],
        appointments=[AppointmentView(appointment=a.id, kind=a.kind, start=a.start, status=a.status, chair=a.chair,
                                      provider=a.provider, minutes=a.minutes)
                      for a in sorted(state.appointments.values(), key=lambda a: a.start)],
        open_escalations=[_escalation({**e.model_dump(), "workflow_id": workflow.id, "patient_id": workflow.patient_id},
                                      patient, show_patient)
                          for e in state.escalations.values() if e.status != "resolved"],
        pending_timers=[TimerView(key=key, kind=t.kind, due_at=t.due_at, session=t.session)
                        for key, t in sorted(state.timers.items(), key=lambda item: item[1].due_at)],
        scores=scores,
        allowed_events=allowed_events(state.stage),
    )


def event_view(record: EventRecord, show_patient: bool) -> EventView:
    """An event of the history; for ops, its allowlisted fields and data only (`OPS_EVENT`, `OPS_EVENT_DATA`)."""
    if show_patient:
        return EventView(id=record.id, seq=record.seq, type=record.type, data=record.data,
                         actor=ActorView(role=record.actor_role, name=record.actor_name, user_id=record.actor_user_id),
                         idempotency_key=record.idempotency_key, occurred_at=record.occurred_at,
                         recorded_at=record.recorded_at, stage_after=record.stage_after)
    named = record.actor_role in OPS_ACTOR_NAMED_ROLES
    return EventView(**allowed(record.model_dump(), OPS_EVENT), data=allowed(record.data, OPS_EVENT_DATA),
                     actor=ActorView(role=record.actor_role, name=record.actor_name if named else None,
                                     user_id=record.actor_user_id))


def escalation_view(record: EscalationRecord, patient: PatientRow | None, show_patient: bool) -> EscalationView:
    """A worklist item; for ops, its allowlisted fields only (`OPS_ESCALATION`)."""
    return _escalation({**record.model_dump(exclude={"session_key"}), "session": record.session_key}, patient,
                       show_patient)


def _escalation(values: dict[str, Any], patient: PatientRow | None, show_patient: bool) -> EscalationView:
    if not show_patient:
        return EscalationView(**allowed(values, OPS_ESCALATION))
    return EscalationView(**allowed(values, EscalationView.model_fields), patient_name=patient.name if patient else None)


def number_warnings(engine: Engine, phone: str, patient_id: str,
                    clinics: Collection[str] | None = None) -> list[ReferralWarning]:
    """What staff should know about a new patient's number: who else is on it (at these clinics: the others are not
    theirs to see), and whether it said STOP."""
    warnings = []
    others = sorted({patient.id for _workflow, patient in inbox.others_on_number(engine, phone, patient_id, clinics)})
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
