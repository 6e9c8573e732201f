"""Paginated read queries for the API: workflows by stage and flag, a workflow's history, the escalation worklist."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, func, or_, select
from sqlmodel import Session

from models.tables import EscalationRecord, EventRecord, OutboxMessage, PatientRow, WorkflowFlag, WorkflowRow

# The worklist shows the most severe first, then the oldest.
SEVERITY_ORDER = case({"emergency": 0, "urgent": 1, "routine": 2}, value=EscalationRecord.severity, else_=3)
UNRESOLVED = ("open", "acknowledged")


def in_clinics(table: Any, clinics: Collection[str] | None) -> list[Any]:
    """The condition keeping rows of these clinics (none: every clinic); an empty scope keeps nothing."""
    return [] if clinics is None else [table.clinic_id.in_(sorted(clinics))]


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int


# Most recently changed first; read backwards along ix_workflows_updated_at_id (ties: the later id first).
RECENT_FIRST = (WorkflowRow.updated_at.desc(), WorkflowRow.id.desc())


def workflows_page(engine: Engine, *, now: datetime, stage: str | None = None, flag: str | None = None,
                   limit: int = 50, offset: int = 0, clinics: Collection[str] | None = None) -> Page:
    """(WorkflowRow, PatientRow) pairs, most recently changed first; `flag` keeps workflows where it is active at `now`.
    `clinics`: only these clinics' workflows (None: every clinic's), as everywhere below."""
    conditions = [WorkflowRow.stage == stage] if stage else []
    conditions += in_clinics(WorkflowRow, clinics)
    if flag is not None:
        conditions.append(flag_active(flag, now))
    with Session(engine) as db:
        total = db.execute(select(func.count()).select_from(WorkflowRow).where(*conditions)).scalar_one()
        ids = db.execute(select(WorkflowRow.id).where(*conditions).order_by(*RECENT_FIRST).limit(limit).offset(offset))
        return Page(_with_patients(db, list(ids.scalars())), total)


def flag_active(flag: str, now: datetime) -> Any:
    """The workflow has `flag` set and not expired at `now` (the `workflow_flags` projection of its state)."""
    return select(WorkflowFlag.workflow_id).where(WorkflowFlag.workflow_id == WorkflowRow.id,
                                                  *_flag_conditions(flag, now)).exists()


def _flag_conditions(flag: str, now: datetime) -> list:
    return [WorkflowFlag.flag == flag, or_(WorkflowFlag.until.is_(None), WorkflowFlag.until > now)]


def like_escaped(text: str) -> str:
    """LIKE's wildcards typed in a search are matched as themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _with_patients(db: Session, ids: Sequence[str]) -> list[tuple[WorkflowRow, PatientRow]]:
    if not ids:
        return []
    rows = db.execute(select(WorkflowRow, PatientRow).join(PatientRow, PatientRow.id == WorkflowRow.patient_id)
                      .where(WorkflowRow.id.in_(ids))).all()
    position = {workflow_id: index for index, workflow_id in enumerate(ids)}
    ordered = sorted(((workflow, patient) for workflow, patient in rows), key=lambda pair: position[pair[0].id])
    db.expunge_all()
    return ordered


def workflow_with_patient(engine: Engine, workflow_id: str) -> tuple[WorkflowRow, PatientRow] | None:
    with Session(engine) as db:
        pairs = _with_patients(db, [workflow_id])
        return pairs[0] if pairs else None


def events_page(engine: Engine, workflow_id: str, *, limit: int = 50, offset: int = 0) -> Page:
    """A workflow's history in order."""
    where = EventRecord.workflow_id == workflow_id
    with Session(engine) as db:
        total = db.execute(select(func.count()).select_from(EventRecord).where(where)).scalar_one()
        rows = db.execute(select(EventRecord).where(where).order_by(EventRecord.seq).limit(limit).offset(offset))
        records = list(rows.scalars())
        db.expunge_all()
        return Page(records, total)


def escalations_page(engine: Engine, *, statuses: Sequence[str] = UNRESOLVED, severity: str | None = None,
                     owner_role: str | None = None, workflow_id: str | None = None, limit: int = 50,
                     offset: int = 0, clinics: Collection[str] | None = None) -> Page:
    """(EscalationRecord, PatientRow) pairs, most severe and oldest first."""
    conditions = _escalation_filters(statuses, severity, owner_role, workflow_id=workflow_id)
    conditions += in_clinics(EscalationRecord, clinics)
    return _escalation_rows(engine, conditions, (SEVERITY_ORDER, EscalationRecord.raised_at, EscalationRecord.id),
                            limit, offset)


def _escalation_filters(statuses: Sequence[str], severity: str | None, owner_role: str | None, *,
                        workflow_id: str | None = None, acknowledged_by: str | None = None) -> list:
    conditions = [EscalationRecord.status.in_(list(statuses))]
    if severity:
        conditions.append(EscalationRecord.severity == severity)
    if owner_role:
        conditions.append(EscalationRecord.owner_role == owner_role)
    if workflow_id:
        conditions.append(EscalationRecord.workflow_id == workflow_id)
    if acknowledged_by:
        conditions.append(EscalationRecord.acknowledged_by == acknowledged_by)
    return conditions


def _escalation_rows(engine: Engine, conditions: list, order: tuple, limit: int, offset: int) -> Page:
    """A page of (EscalationRecord, PatientRow or None) pairs matching `conditions`, in `order`, with the total."""
    with Session(engine) as db:
        total = db.execute(select(func.count()).select_from(EscalationRecord).where(*conditions)).scalar_one()
        # The page's ids first (a sort of narrow rows), then those rows with their patients: joining before the
        # limit made PostgreSQL hash every patient for 10,000 open items to keep 200.
        ids = list(db.execute(select(EscalationRecord.id).where(*conditions).order_by(*order).limit(limit)
                              .offset(offset)).scalars())
        # Outer join: an emergency from an unknown number has no patient, and is on the worklist all the same.
        query = (select(EscalationRecord, PatientRow).outerjoin(PatientRow, PatientRow.id == EscalationRecord.patient_id)
                 .where(EscalationRecord.id.in_(ids)))
        position = {escalation_id: index for index, escalation_id in enumerate(ids)}
        rows = sorted((tuple(row) for row in db.execute(query).all()), key=lambda pair: position[pair[0].id])
        db.expunge_all()
        return Page(rows, total)


def escalation(engine: Engine, escalation_id: str) -> tuple[EscalationRecord, PatientRow | None] | None:
    with Session(engine) as db:
        row = db.execute(select(EscalationRecord, PatientRow)
                         .outerjoin(PatientRow, PatientRow.id == EscalationRecord.patient_id)
                         .where(EscalationRecord.id == escalation_id)).first()
        if row is None:
            return None
        db.expunge_all()
        return tuple(row)


# --- the console: patients with search and filters, and the worklist in the order people work it -------------------

def patients_page(engine: Engine, *, now: datetime, search: str | None = None, stage: str | None = None,
                  state_flag: str | None = None, opted_out: bool | None = None, sms_consent: bool | None = None,
                  open_escalation: bool = False, limit: int = 25, offset: int = 0,
                  clinics: Collection[str] | None = None) -> Page:
    """(WorkflowRow, PatientRow) pairs, most recently changed first, found by name, phone or id and narrowed by filters.

    `search` matches part of the name (any case), digits of the phone, or the start of the workflow or patient id.
    """
    conditions: list[Any] = in_clinics(WorkflowRow, clinics)
    if stage:
        conditions.append(WorkflowRow.stage == stage)
    if opted_out is not None:
        conditions.append(PatientRow.opted_out.is_(opted_out))
    if sms_consent is not None:
        conditions.append(PatientRow.sms_consent.is_(sms_consent))
    if open_escalation:
        conditions.append(select(EscalationRecord.id).where(EscalationRecord.workflow_id == WorkflowRow.id,
                                                            EscalationRecord.status.in_(UNRESOLVED)).exists())
    if search:
        conditions.append(_matches(search))
    on_patient = bool(search and _names_patient_columns(search)) or opted_out is not None or sms_consent is not None
    if state_flag is not None:
        conditions.append(flag_active(state_flag, now))
    # Counting needs the patients table only when a condition is on its columns: 100,000 workflows count from one
    # index, and a name search counts the workflows of the patients its subquery found.
    joined = (PatientRow, PatientRow.id == WorkflowRow.patient_id)
    with Session(engine) as db:
        total = db.execute(_count(conditions, joined if on_patient else None, state_flag, now)).scalar_one()
        listed = select(WorkflowRow.id)
        ids = db.execute((listed.join(*joined) if on_patient else listed).where(*conditions)
                         .order_by(*RECENT_FIRST).limit(limit).offset(offset))
        return Page(_with_patients(db, list(ids.scalars())), total)


def _count(conditions: list, joined: tuple | None, state_flag: str | None, now: datetime) -> Any:
    """How many workflows match, reading no more tables than the conditions need: the flag filter alone counts its
    own rows (every flag row has its workflow), not 100,000 workflows each probed for a flag."""
    if state_flag is not None and len(conditions) == 1 and joined is None:
        return select(func.count()).select_from(WorkflowFlag).where(*_flag_conditions(state_flag, now))
    counted = select(func.count()).select_from(WorkflowRow)
    return (counted.join(*joined) if joined else counted).where(*conditions)


def _matches(search: str) -> Any:
    text = search.strip()
    # The name: ILIKE on PostgreSQL, which the trigram index (ix_patients_name_trgm) answers; lower() LIKE on SQLite.
    # As a subquery of its own (OFFSET 0 keeps PostgreSQL from flattening it): the matching patients are found by the
    # index first, instead of walking every workflow newest first and testing each one's name.
    named = (select(PatientRow.id).where(PatientRow.name.ilike(f"%{like_escaped(text)}%", escape="\\")).offset(0))
    either = [WorkflowRow.patient_id.in_(named)]
    if _is_phone(text):
        either.append(PatientRow.phone.contains("".join(ch for ch in text if ch.isdigit()), autoescape=True))
    if _is_id_start(text):
        either += [WorkflowRow.id.startswith(text.lower(), autoescape=True),
                   PatientRow.id.startswith(text.lower(), autoescape=True)]
    return or_(*either)


def _is_phone(text: str) -> bool:
    digits = [ch for ch in text if ch.isdigit()]
    return len(digits) >= 3 and all(ch.isdigit() or ch in "+-() ." for ch in text)


def _is_id_start(text: str) -> bool:
    return len(text) >= 4 and all(ch in "0123456789abcdef-" for ch in text.lower())


def _names_patient_columns(search: str) -> bool:
    """Whether a search reads the patients' own columns (phone, id), beyond the name subquery."""
    return _is_phone(search.strip()) or _is_id_start(search.strip())


@dataclass(frozen=True)
class OpenEscalations:
    count: int
    worst: str  # the most severe open item's severity


def open_escalations_by_workflow(engine: Engine, workflow_ids: Sequence[str]) -> dict[str, OpenEscalations]:
    """For a page of workflows: how many unresolved escalations each has, and the worst severity among them."""
    if not workflow_ids:
        return {}
    with Session(engine) as db:
        rows = db.execute(select(EscalationRecord.workflow_id, func.count(), func.min(SEVERITY_ORDER))
                          .where(EscalationRecord.workflow_id.in_(list(workflow_ids)),
                                 EscalationRecord.status.in_(UNRESOLVED))
                          .group_by(EscalationRecord.workflow_id)).all()
    names = ("emergency", "urgent", "routine")
    return {workflow_id: OpenEscalations(count, names[rank] if rank < len(names) else "routine")
            for workflow_id, count, rank in rows}


def worklist_page(engine: Engine, *, now: datetime, statuses: Sequence[str] = UNRESOLVED, severity: str | None = None,
                  owner_role: str | None = None, acknowledged_by: str | None = None, limit: int = 100,
                  offset: int = 0, clinics: Collection[str] | None = None) -> Page:
    """(EscalationRecord, PatientRow) pairs: past their acknowledgement deadline first, then most severe, then oldest."""
    conditions = _escalation_filters(statuses, severity, owner_role, acknowledged_by=acknowledged_by)
    conditions += in_clinics(EscalationRecord, clinics)
    overdue_first = case(((EscalationRecord.status == "open") & (EscalationRecord.ack_deadline < now), 0), else_=1)
    return _escalation_rows(engine, conditions,
                            (overdue_first, SEVERITY_ORDER, EscalationRecord.raised_at, EscalationRecord.id), limit, offset)


def messages_of(engine: Engine, workflow_id: str) -> list[OutboxMessage]:
    """Every message of a workflow, planned and sent, in the order they were (or will be) due."""
    with Session(engine) as db:
        rows = list(db.execute(select(OutboxMessage).where(OutboxMessage.workflow_id == workflow_id)
                               .order_by(OutboxMessage.not_before, OutboxMessage.created_at)).scalars())
        db.expunge_all()
    return rows
