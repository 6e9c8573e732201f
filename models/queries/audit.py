"""Reading the audit trail: the admin's search, `carepath audit export`, the changes a patient's history holds, and the
recent sign-in failures that pause signing in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session

from models.tables import AuditEntry, EventRecord, User, WorkflowRow

FAILED = "sign_in_failed"
SEARCH_LIMIT = 500  # a page of the admin's search; the export has no limit


@dataclass(frozen=True)
class Change:
    """One event of a patient's history, as the audit view shows it beside the views (events are the change log)."""

    workflow_id: str
    seq: int
    type: str
    actor_role: str
    actor_name: str | None
    occurred_at: datetime
    recorded_at: datetime
    actor_user_id: str | None = None  # the signed-in user who caused it; None for carepath, the patient, the simulator


def _filtered(query, user_id: str | None, patient_id: str | None, since: datetime | None, until: datetime | None,
              actions: tuple[str, ...] = ()):
    if user_id:
        query = query.where(AuditEntry.user_id == user_id)
    if patient_id:
        query = query.where(AuditEntry.patient_id == patient_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if actions:
        query = query.where(AuditEntry.action.in_(actions))
    return query


def search(engine: Engine, *, user_id: str | None = None, patient_id: str | None = None, since: datetime | None = None,
           until: datetime | None = None, actions: tuple[str, ...] = (),
           limit: int = SEARCH_LIMIT) -> list[tuple[AuditEntry, str | None]]:
    """Entries matching every filter given, newest first, each with the name of its user."""
    query = _filtered(select(AuditEntry, User.name).outerjoin(User, User.id == AuditEntry.user_id),
                      user_id, patient_id, since, until, actions)
    with Session(engine) as db:
        rows = db.execute(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)).all()
        db.expunge_all()
    return [(entry, name) for entry, name in rows]


def export(engine: Engine, *, since: datetime, until: datetime | None = None, batch: int = 1000) -> Iterator[AuditEntry]:
    """Every entry from `since`, oldest first, read in batches (an export of a year stays small in memory)."""
    last = 0
    while True:
        query = _filtered(select(AuditEntry), None, None, since, until).where(AuditEntry.id > last)
        with Session(engine) as db:
            rows = db.execute(query.order_by(AuditEntry.id).limit(batch)).scalars().all()
            db.expunge_all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].id


def changes_of_patient(engine: Engine, patient_id: str, since: datetime | None = None,
                       until: datetime | None = None) -> list[Change]:
    """The events recorded on the patient's workflows (who changed what, when), newest first."""
    query = (select(EventRecord).join(WorkflowRow, WorkflowRow.id == EventRecord.workflow_id)
             .where(WorkflowRow.patient_id == patient_id))
    if since is not None:
        query = query.where(EventRecord.recorded_at >= since)
    if until is not None:
        query = query.where(EventRecord.recorded_at < until)
    with Session(engine) as db:
        rows = db.execute(query.order_by(EventRecord.recorded_at.desc(), EventRecord.id.desc())
                          .limit(SEARCH_LIMIT)).scalars().all()
        return [Change(r.workflow_id, r.seq, r.type, r.actor_role, r.actor_name, r.occurred_at, r.recorded_at,
                       r.actor_user_id) for r in rows]


def failures(engine: Engine, since: datetime, *, user_id: str | None = None, address: str | None = None) -> list[datetime]:
    """When sign-ins failed since `since`, for one account or from one address (oldest first)."""
    query = select(AuditEntry.at).where(AuditEntry.action == FAILED, AuditEntry.at >= since)
    if user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    if address is not None:
        query = query.where(AuditEntry.address == address)
    with Session(engine) as db:
        return list(db.execute(query.order_by(AuditEntry.at).limit(1000)).scalars().all())


def last_sign_in(engine: Engine, user_id: str) -> datetime | None:
    with Session(engine) as db:
        return db.execute(select(AuditEntry.at).where(AuditEntry.user_id == user_id, AuditEntry.action == "sign_in")
                          .order_by(AuditEntry.at.desc()).limit(1)).scalar()
