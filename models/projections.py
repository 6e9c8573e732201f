"""Writing a decision's effects as rows: timers, escalations, outbox messages, and the session/assessment views."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from models.tables import (
    AssessmentRecord,
    CalendarItemRecord,
    EscalationRecord,
    EventRecord,
    OutboxMessage,
    PatientRow,
    SessionRecord,
    TimerRecord,
    WorkflowFlag,
)
from workflows.effects import (
    CancelTimer,
    Decision,
    DropPendingMessages,
    FireTimer,
    SaveEscalation,
    ScheduleTimer,
    SendMessage,
)
from workflows.state import WorkflowState


def write(db: Session, before: WorkflowState | None, decision: Decision, event: EventRecord, now: datetime) -> None:
    """Everything the decision changed, in the caller's transaction."""
    workflow_id = decision.state.workflow_id
    for effect in decision.effects:
        match effect:
            case CancelTimer(key=key):
                db.execute(
                    update(TimerRecord)
                    .where(TimerRecord.workflow_id == workflow_id, TimerRecord.key == key, TimerRecord.status == "pending")
                    .values(status="cancelled")
                )
            case FireTimer(key=key, due_at=due_at):
                db.execute(
                    update(TimerRecord)
                    .where(
                        TimerRecord.workflow_id == workflow_id,
                        TimerRecord.key == key,
                        TimerRecord.due_at == due_at,
                        TimerRecord.status.in_(("pending", "claimed")),
                    )
                    .values(status="fired", fired_at=now)
                )
            case ScheduleTimer(key=key, timer=timer):
                db.add(
                    TimerRecord(
                        id=str(uuid.uuid4()),
                        clinic_id=decision.state.clinic,
                        workflow_id=workflow_id,
                        key=key,
                        kind=timer.kind,
                        session_key=timer.session,
                        due_at=timer.due_at,
                        status="pending",
                        data=timer.data,
                        created_at=now,
                        event_id=event.id,
                    )
                )
            case SaveEscalation(escalation=escalation):
                _save_escalation(db, decision.state, escalation, event.id)
            case SendMessage():
                _enqueue(db, decision.state.clinic, workflow_id, event.id, effect, now)
            case DropPendingMessages(reason=reason):
                _drop_pending(db, workflow_id, reason)
    _project_sessions(db, before, decision.state)
    _project_calendar(db, before, decision.state)
    _project_flags(db, before, decision.state)
    _project_assessments(db, before, decision.state, event.id)
    _project_patient(db, before, decision.state)


def _save_escalation(db: Session, state: WorkflowState, escalation, event_id: int) -> None:
    values = escalation.model_dump(exclude={"session"})
    record = db.get(EscalationRecord, escalation.id)
    if record is None:  # raised by this event: it is the item's cause
        db.add(EscalationRecord(clinic_id=state.clinic, workflow_id=state.workflow_id, patient_id=state.patient.id,
                                session_key=escalation.session, event_id=event_id, **values))
        return
    for name, value in values.items():
        setattr(record, name, value)


def _enqueue(db: Session, clinic: str, workflow_id: str, event_id: int, message: SendMessage, now: datetime) -> None:
    row = dict(
        id=str(uuid.uuid4()),
        clinic_id=clinic,
        workflow_id=workflow_id,
        event_id=event_id,
        kind=message.kind,
        recipient=message.recipient,
        to_phone=message.to,
        body=message.body,
        status="dropped" if message.drop_reason else "pending",
        drop_reason=message.drop_reason,
        urgent=message.urgent,
        automated=message.automated,
        subject=message.subject,
        subject_start=message.subject_start,
        expires_at=message.expires_at,
        session_key=message.session,
        escalation_id=message.escalation,
        dedupe_key=message.dedupe_key,
        not_before=message.not_before or now,
        created_at=now,
        attempts=0,
    )
    if message.dedupe_key is None:
        db.add(OutboxMessage(**row))
        return
    # The same message queued before is never queued twice: the unique dedupe key says so in the insert itself, with no
    # read first. (Both backends speak ON CONFLICT; the embedded SQLite since 3.24.)
    db.execute(_insert_once_statement(db.get_bind().dialect.name, tuple(row)), row)


@cache
def _insert_once_statement(dialect_name: str, columns: tuple[str, ...]):
    return (_dialect(dialect_name).insert(OutboxMessage).values({name: bindparam(name) for name in columns})
            .on_conflict_do_nothing(index_elements=["dedupe_key"]))


def _drop_pending(db: Session, workflow_id: str, reason: str) -> None:
    """Automated patient texts still waiting (not yet claimed for sending) are dropped; staff alerts and direct replies
    stay. A worker that claimed one of them meanwhile finds it no longer `queued` and leaves it."""
    db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.workflow_id == workflow_id,
            OutboxMessage.status.in_(("pending", "queued")),
            OutboxMessage.automated.is_(True),
            OutboxMessage.recipient == "patient",
        )
        .values(status="dropped", drop_reason=reason),
        execution_options={"synchronize_session": False},
    )


def _project_sessions(db: Session, before: WorkflowState | None, after: WorkflowState) -> None:
    old = before.sessions if before else {}
    for key, session in after.sessions.items():
        if old.get(key) == session:
            continue
        _upsert(db, SessionRecord, ["workflow_id", "session_key"],
                {"workflow_id": after.workflow_id, "session_key": key},
                {"route": session.route, "series": session.series, "status": str(session.status),
                 "start": session.start, "dose_mg": session.dose_mg, "dose_mg_per_kg": session.dose_mg_per_kg,
                 "dosed_at": session.dosed_at, "discharged_at": session.discharged_at})


def _project_calendar(db: Session, before: WorkflowState | None, after: WorkflowState) -> None:
    """One calendar row per session and appointment, rewritten when the item changed (booked, moved, confirmed, …)."""
    old = [*(before.sessions.values() if before else ()), *(before.appointments.values() if before else ())]
    for item in [*after.sessions.values(), *after.appointments.values()]:
        if item in old:
            continue
        kind = getattr(item, "kind", "session")
        # The same document the state holds (JSON-shaped), so the calendar words it exactly as it did from the state.
        _upsert(db, CalendarItemRecord, ["workflow_id", "kind", "item_id"],
                {"workflow_id": after.workflow_id, "kind": kind, "item_id": item.id},
                {"start": item.start, "status": str(item.status), "item": item.model_dump(mode="json")})


def _upsert(db: Session, table, keys: list[str], key_values: dict, values: dict) -> None:
    """Insert the row, or update it where its unique `keys` already are: one statement, no read first."""
    db.execute(_upsert_statement(db.get_bind().dialect.name, table, tuple(keys), tuple(values)),
               {**key_values, **values}, execution_options={"synchronize_session": False})


def _dialect(name: str):
    """The dialect whose INSERT speaks ON CONFLICT: PostgreSQL's, or the embedded SQLite's."""
    return postgresql if name == "postgresql" else sqlite


@cache
def _upsert_statement(dialect_name: str, table, keys: tuple[str, ...], columns: tuple[str, ...]):
    """Built once per table and dialect with bound parameters, so each call only binds values: building and caching a
    fresh statement every time cost more CPU than the round trip it saves."""
    insert = _dialect(dialect_name).insert(table).values({name: bindparam(name) for name in (*keys, *columns)})
    return insert.on_conflict_do_update(index_elements=list(keys),
                                        set_={name: insert.excluded[name] for name in columns})


def _project_flags(db: Session, before: WorkflowState | None, after: WorkflowState) -> None:
    """The state's flags as rows (flag, until): replaced whole when they changed, which is rare."""
    if before is not None and before.flags == after.flags:
        return
    db.execute(delete(WorkflowFlag).where(WorkflowFlag.workflow_id == after.workflow_id),
               execution_options={"synchronize_session": False})
    for flag, until in after.flags.items():
        db.add(WorkflowFlag(workflow_id=after.workflow_id, flag=flag, until=until))


def _project_assessments(db: Session, before: WorkflowState | None, after: WorkflowState, event_id: int) -> None:
    already = len(before.assessments) if before else 0
    for record in after.assessments[already:]:
        db.add(
            AssessmentRecord(
                workflow_id=after.workflow_id,
                event_id=event_id,
                instrument=record.instrument,
                total=record.total,
                band=record.band,
                risk=record.risk,
                flags=record.flags,
                at=record.at,
            )
        )


def _project_patient(db: Session, before: WorkflowState | None, after: WorkflowState) -> None:
    if before is not None and before.patient == after.patient:
        return
    db.execute(
        update(PatientRow)
        .where(PatientRow.id == after.patient.id)
        .values(
            sms_consent=after.patient.sms_consent,
            opted_out=after.patient.opted_out,
            phone=after.patient.phone,
            timezone=after.patient.timezone,
        )
    )
