"""Writing a decision's effects as rows: timers, escalations, outbox messages, and the session/assessment views.

`writes` returns them as (statement, parameters) pairs for the store to send together (`models/event_writer.py`):
statements built once with bound parameters, none needing another's result, so on PostgreSQL they go in one round
trip with the event itself. No statement reads first: upserts and ON CONFLICT say in the write what a read would have.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from models.event_writer import Statement, compiled_once
from models.tables import (
    AssessmentRecord,
    CalendarItemRecord,
    EscalationRecord,
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


def writes(dialect: str, before: WorkflowState | None, decision: Decision, event_id: int,
           now: datetime) -> list[Statement]:
    """Everything the decision changed, as statements for the caller's transaction (`dialect`: the engine's name)."""
    workflow_id = decision.state.workflow_id
    out: list[Statement] = []
    for effect in decision.effects:
        match effect:
            case CancelTimer(key=key):
                out.append((_CANCEL_TIMER, {"w": workflow_id, "k": key}))
            case FireTimer(key=key, due_at=due_at):
                out.append((_FIRE_TIMER, {"w": workflow_id, "k": key, "due": due_at, "now": now}))
            case ScheduleTimer(key=key, timer=timer):
                out.append((_INSERT_TIMER, {
                    "id": str(uuid.uuid4()), "clinic_id": decision.state.clinic, "workflow_id": workflow_id,
                    "key": key, "kind": timer.kind, "session_key": timer.session, "due_at": timer.due_at,
                    "status": "pending", "data": timer.data, "created_at": now, "event_id": event_id}))
            case SaveEscalation(escalation=escalation):
                out.append(_save_escalation(dialect, decision.state, escalation, event_id))
            case SendMessage():
                out.append(_enqueue(dialect, decision.state.clinic, workflow_id, event_id, effect, now))
            case DropPendingMessages(reason=reason):
                out.append((_DROP_PENDING, {"w": workflow_id, "reason": reason}))
    _project_sessions(out, dialect, before, decision.state)
    _project_calendar(out, dialect, before, decision.state)
    _project_flags(out, before, decision.state)
    _project_assessments(out, before, decision.state, event_id)
    _project_patient(out, before, decision.state)
    return out


_CANCEL_TIMER = (update(TimerRecord)
                 .where(TimerRecord.workflow_id == bindparam("w"), TimerRecord.key == bindparam("k"),
                        TimerRecord.status == "pending")
                 .values(status="cancelled"))
_FIRE_TIMER = (update(TimerRecord)
               .where(TimerRecord.workflow_id == bindparam("w"), TimerRecord.key == bindparam("k"),
                      TimerRecord.due_at == bindparam("due"), TimerRecord.status.in_(("pending", "claimed")))
               .values(status="fired", fired_at=bindparam("now")))
_INSERT_TIMER = insert(TimerRecord)
# Automated patient texts still waiting (not yet claimed for sending) are dropped; staff alerts and direct replies
# stay. A worker that claimed one of them meanwhile finds it no longer `queued` and leaves it.
_DROP_PENDING = (update(OutboxMessage)
                 .where(OutboxMessage.workflow_id == bindparam("w"), OutboxMessage.status.in_(("pending", "queued")),
                        OutboxMessage.automated.is_(True), OutboxMessage.recipient == "patient")
                 .values(status="dropped", drop_reason=bindparam("reason")))
# Assessments' ids come from their sequence; nothing reads them back (`inline`: no RETURNING).
_INSERT_ASSESSMENT = insert(AssessmentRecord).inline()
_DELETE_FLAGS = delete(WorkflowFlag).where(WorkflowFlag.workflow_id == bindparam("w"))
_INSERT_FLAG = insert(WorkflowFlag)
_UPDATE_PATIENT = (update(PatientRow).where(PatientRow.id == bindparam("pid"))
                   .values(sms_consent=bindparam("sms_consent"), opted_out=bindparam("opted_out"),
                           phone=bindparam("phone"), timezone=bindparam("timezone")))
# An escalation's cause (its workflow, patient, session, first event) is written when it is raised and kept after.
_ESCALATION_CAUSE = ("clinic_id", "workflow_id", "patient_id", "session_key", "event_id")


def _save_escalation(dialect: str, state: WorkflowState, escalation, event_id: int) -> Statement:
    """Raised by this event (its cause), or a later version of one raised before: one upsert, no read first."""
    values = escalation.model_dump(exclude={"session"})
    row = {"clinic_id": state.clinic, "workflow_id": state.workflow_id, "patient_id": state.patient.id,
           "session_key": escalation.session, "event_id": event_id, **values}
    changing = tuple(name for name in row if name not in (*_ESCALATION_CAUSE, "id"))
    return _upsert_statement(dialect, EscalationRecord, ("id",), changing, _ESCALATION_CAUSE), row


def _enqueue(dialect: str, clinic: str, workflow_id: str, event_id: int, message: SendMessage,
             now: datetime) -> Statement:
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
        return _INSERT_OUTBOX, row
    # The same message queued before is never queued twice: the unique dedupe key says so in the insert itself, with no
    # read first. (Both backends speak ON CONFLICT; the embedded SQLite since 3.24.)
    return _insert_once_statement(dialect, tuple(row)), row


_INSERT_OUTBOX = insert(OutboxMessage)


@cache
def _insert_once_statement(dialect_name: str, columns: tuple[str, ...]):
    return compiled_once(_dialect(dialect_name).insert(OutboxMessage).values({name: bindparam(name) for name in columns})
                         .on_conflict_do_nothing(index_elements=["dedupe_key"]), OutboxMessage.__table__, dialect_name)


def _project_sessions(out: list[Statement], dialect: str, before: WorkflowState | None, after: WorkflowState) -> None:
    old = before.sessions if before else {}
    for key, session in after.sessions.items():
        if old.get(key) == session:
            continue
        out.append(_upsert(dialect, SessionRecord, ["workflow_id", "session_key"],
                           {"workflow_id": after.workflow_id, "session_key": key},
                           {"route": session.route, "series": session.series, "status": str(session.status),
                            "start": session.start, "dose_mg": session.dose_mg,
                            "dose_mg_per_kg": session.dose_mg_per_kg, "dosed_at": session.dosed_at,
                            "discharged_at": session.discharged_at}))


def _project_calendar(out: list[Statement], dialect: str, before: WorkflowState | None, after: WorkflowState) -> None:
    """One calendar row per session and appointment, rewritten when the item changed (booked, moved, confirmed, …)."""
    old = [*(before.sessions.values() if before else ()), *(before.appointments.values() if before else ())]
    for item in [*after.sessions.values(), *after.appointments.values()]:
        if item in old:
            continue
        kind = getattr(item, "kind", "session")
        # The same document the state holds (JSON-shaped), so the calendar words it exactly as it did from the state.
        out.append(_upsert(dialect, CalendarItemRecord, ["workflow_id", "kind", "item_id"],
                           {"workflow_id": after.workflow_id, "kind": kind, "item_id": item.id},
                           {"start": item.start, "status": str(item.status), "item": item.model_dump(mode="json")}))


def _upsert(dialect: str, table, keys: list[str], key_values: dict, values: dict) -> Statement:
    """Insert the row, or update it where its unique `keys` already are: one statement, no read first."""
    return _upsert_statement(dialect, table, tuple(keys), tuple(values)), {**key_values, **values}


def _dialect(name: str):
    """The dialect whose INSERT speaks ON CONFLICT: PostgreSQL's, or the embedded SQLite's."""
    return postgresql if name == "postgresql" else sqlite


@cache
def _upsert_statement(dialect_name: str, table, keys: tuple[str, ...], columns: tuple[str, ...],
                      kept: tuple[str, ...] = ()):
    """Built once per table and dialect with bound parameters, so each call only binds values: building and caching a
    fresh statement every time cost more CPU than the round trip it saves. `kept`: columns written by the insert and
    left as they are by the update."""
    # `inline`: the row's own id (a sequence's, for the views) is never read back, so no RETURNING.
    insert_ = (_dialect(dialect_name).insert(table).values({name: bindparam(name) for name in (*keys, *columns, *kept)})
               .inline())
    return compiled_once(insert_.on_conflict_do_update(index_elements=list(keys),
                                                       set_={name: insert_.excluded[name] for name in columns}),
                         table.__table__, dialect_name)


def _project_flags(out: list[Statement], before: WorkflowState | None, after: WorkflowState) -> None:
    """The state's flags as rows (flag, until): replaced whole when they changed, which is rare."""
    if before is not None and before.flags == after.flags:
        return
    out.append((_DELETE_FLAGS, {"w": after.workflow_id}))
    for flag, until in after.flags.items():
        out.append((_INSERT_FLAG, {"workflow_id": after.workflow_id, "flag": flag, "until": until}))


def _project_assessments(out: list[Statement], before: WorkflowState | None, after: WorkflowState,
                         event_id: int) -> None:
    already = len(before.assessments) if before else 0
    for record in after.assessments[already:]:
        out.append((_INSERT_ASSESSMENT, {"workflow_id": after.workflow_id, "event_id": event_id,
                                         "instrument": record.instrument, "total": record.total, "band": record.band,
                                         "risk": record.risk, "flags": record.flags, "at": record.at}))


def _project_patient(out: list[Statement], before: WorkflowState | None, after: WorkflowState) -> None:
    if before is not None and before.patient == after.patient:
        return
    patient = after.patient
    out.append((_UPDATE_PATIENT, {"pid": patient.id, "sms_consent": patient.sms_consent,
                                  "opted_out": patient.opted_out, "phone": patient.phone,
                                  "timezone": patient.timezone}))
