"""Shared helpers for the database integration tests: events, a clinic, row counts, projection checks, replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlmodel import Session

from config.clinic import build_clinic
from config.protocol import ProtocolBook, shipped_book
from models.store import WorkflowStore
from models.tables import (
    AssessmentRecord,
    EscalationRecord,
    EventRecord,
    OutboxMessage,
    PatientRow,
    SessionRecord,
    TimerRecord,
    WorkflowRow,
)
from workflows.clinic import Clinic
from workflows.events import Event, make_event
from workflows.pathway import replay
from workflows.state import WorkflowState

TABLES = ("patients", "workflows", "events", "sessions", "assessments", "timers", "outbox", "escalations")

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York
DAY = timedelta(days=1)
COORDINATOR = {"role": "coordinator", "name": "Sam"}
CLINICIAN = {"role": "clinician", "name": "Dr B"}
CLINIC = build_clinic(staff={"on_call": "+15555550190", "medical_director": "+15555550191"})
PROTOCOLS = shipped_book()

# PHQ-9 answers: total 7 (mild), item 9 = 0; with item 9 = 1 the clinician gets an urgent safety follow-up.
PHQ9_MILD = [1, 1, 1, 1, 1, 1, 1, 0, 0]
PHQ9_ITEM9 = [1, 1, 1, 1, 1, 1, 0, 0, 1]


def ev(event_type: str, data: dict[str, Any], actor: dict | None = None, key: str | None = None,
       occurred_at: datetime | None = None) -> Event:
    return make_event(event_type, data, actor=actor or COORDINATOR, idempotency_key=key, occurred_at=occurred_at)


def referral(key: str | None = None, prior_treatments: int = 3, phone: str = "+1 (555) 555-0101") -> Event:
    data = {
        "patient": {"name": "Test Patient", "phone": phone, "sms_consent": True, "date_of_birth": "1980-05-17"},
        "referrer": "Dr A",
        "prior_treatments": prior_treatments,
    }
    return ev("referral.received", data, key=key)


def to_treatment_planned(pathway: WorkflowStore, key: str | None = None) -> str:
    """A started workflow, evaluated eligible for esketamine at T0 + 1 day; returns its id."""
    workflow_id = pathway.start(referral(key=key), T0).workflow_id
    pathway.apply(workflow_id, ev("evaluation.scheduled", {"start": T0 + DAY}), T0 + hours(1))
    pathway.apply(workflow_id, ev("evaluation.completed", {"eligible": True, "route": "esketamine", "clinician": "Dr B"},
                                  CLINICIAN), T0 + DAY)
    return workflow_id


def outbox(engine: Engine, **where) -> list[OutboxMessage]:
    """The outbox rows matching `where` (column=value), oldest first."""
    with Session(engine) as db:
        query = select(OutboxMessage).where(*(getattr(OutboxMessage, k) == v for k, v in where.items()))
        rows = list(db.execute(query.order_by(OutboxMessage.created_at)).scalars())
        db.expunge_all()
        return rows


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def workflow_row(engine: Engine, workflow_id: str) -> WorkflowRow:
    with Session(engine) as db:
        row = db.get(WorkflowRow, workflow_id)
        db.expunge_all()
        return row


def event_rows(engine: Engine, workflow_id: str) -> list[EventRecord]:
    return _rows(engine, select(EventRecord).where(EventRecord.workflow_id == workflow_id).order_by(EventRecord.id))


def timer_rows(engine: Engine, workflow_id: str | None = None) -> list[TimerRecord]:
    query = select(TimerRecord).order_by(TimerRecord.due_at, TimerRecord.key, TimerRecord.created_at)
    if workflow_id is not None:
        query = query.where(TimerRecord.workflow_id == workflow_id)
    return _rows(engine, query)


def count_events(engine: Engine, *types: str) -> int:
    with Session(engine) as db:
        return db.execute(select(func.count()).select_from(EventRecord).where(EventRecord.type.in_(types))).scalar_one()


def _rows(engine: Engine, query) -> list:
    with Session(engine) as db:
        rows = list(db.execute(query).scalars().all())
        db.expunge_all()
        return rows


def assert_projections_match(engine: Engine, workflow_id: str) -> WorkflowState:
    """Every row derived from the workflow agrees with its stored state document; returns that state."""
    workflow = workflow_row(engine, workflow_id)
    state = WorkflowState.model_validate(workflow.state)
    assert workflow.stage == state.stage
    events = event_rows(engine, workflow_id)
    assert [e.seq for e in events] == list(range(1, workflow.version + 1)), "one event per version, in seq order"
    assert events[-1].stage_after == workflow.stage

    with Session(engine) as db:
        patient = db.get(PatientRow, workflow.patient_id)
        assert (patient.phone, patient.timezone, patient.sms_consent, patient.opted_out) == (
            state.patient.phone, state.patient.timezone, state.patient.sms_consent, state.patient.opted_out)

        timers = db.execute(select(TimerRecord).where(TimerRecord.workflow_id == workflow_id)).scalars().all()
        pending = {t.key: (t.kind, t.due_at, t.session_key, t.data) for t in timers if t.status == "pending"}
        assert pending == {k: (t.kind, t.due_at, t.session, t.data) for k, t in state.timers.items()}
        assert not [t for t in timers if t.status == "claimed"]
        # Each timer names the event of this workflow's history that scheduled it, no later than the timer's row.
        scheduled_by = {e.id: e for e in events}
        assert all(t.event_id in scheduled_by and scheduled_by[t.event_id].recorded_at <= t.created_at for t in timers)

        escalations = db.execute(select(EscalationRecord).where(EscalationRecord.workflow_id == workflow_id)).scalars().all()
        stored = {
            e.id: {**e.model_dump(exclude={"clinic_id", "workflow_id", "patient_id", "inbox_id", "session_key",
                                            "acknowledged_key", "resolved_key", "event_id"}), "session": e.session_key}
            for e in escalations
        }
        # Each item names the event of this workflow's history that raised it, no later than the item.
        raised_by = {e.id: e for e in events}
        assert all(e.event_id in raised_by and raised_by[e.event_id].occurred_at <= e.raised_at for e in escalations)
        assert stored == {k: e.model_dump() for k, e in state.escalations.items()}

        sessions = db.execute(select(SessionRecord).where(SessionRecord.workflow_id == workflow_id)).scalars()
        assert {s.session_key: (s.route, s.series, s.status, s.start, s.dose_mg, s.dose_mg_per_kg, s.dosed_at,
                                s.discharged_at) for s in sessions} == {
            k: (s.route, s.series, s.status, s.start, s.dose_mg, s.dose_mg_per_kg, s.dosed_at, s.discharged_at)
            for k, s in state.sessions.items()
        }

        assessments = db.execute(select(AssessmentRecord).where(AssessmentRecord.workflow_id == workflow_id)
                                 .order_by(AssessmentRecord.id)).scalars().all()
        assert [(a.instrument, a.total, a.band, a.risk, a.flags, a.at) for a in assessments] == [
            (a.instrument, a.total, a.band, a.risk, a.flags, a.at) for a in state.assessments
        ]
    return state


def stored_history(engine: Engine, workflow_id: str) -> list[tuple[Event, datetime]]:
    """The stored events rebuilt as events, each with the time it was recorded."""
    return [
        (make_event(r.type, r.data, actor={"role": r.actor_role, "name": r.actor_name},
                    idempotency_key=r.idempotency_key, occurred_at=r.occurred_at), r.recorded_at)
        for r in sorted(event_rows(engine, workflow_id), key=lambda r: r.seq)
    ]


def replayed_state(engine: Engine, workflow_id: str, book: ProtocolBook = PROTOCOLS,
                   clinic: Clinic = CLINIC) -> WorkflowState:
    workflow = workflow_row(engine, workflow_id)
    return replay(workflow_id, workflow.patient_id, stored_history(engine, workflow_id),
                  book.get(workflow.protocol_version), clinic)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
