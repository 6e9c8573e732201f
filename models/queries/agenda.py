"""The calendar's reads: what is booked in a span of time, and who something can be booked for.

Booked items are read from `calendar_items`, the projection of the workflows' `sessions` and `appointments` kept on
every apply: one indexed range of start times, never the state documents of every workflow. Patients to book for are
found by a search (a few at a time), never listed whole.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlmodel import Session

from models.queries.listing import in_clinics, like_escaped
from models.tables import CalendarItemRecord, PatientRow, WorkflowRow


@dataclass(frozen=True)
class Booked:
    """One session or appointment as the workflow's state holds it."""

    workflow_id: str
    patient_name: str
    stage: str  # the workflow's stage now
    kind: str  # session, evaluation, therapy
    start: datetime
    item: dict[str, Any]  # the state's session or appointment document
    clinic: str = ""  # the workflow's clinic key


def booked_between(engine: Engine, start: datetime, end: datetime,
                   clinics: Collection[str] | None = None) -> list[Booked]:
    """Every session and appointment starting in [start, end), in time order (at these clinics; None: all)."""
    query = (select(CalendarItemRecord.workflow_id, WorkflowRow.stage, CalendarItemRecord.kind, CalendarItemRecord.start,
                    CalendarItemRecord.item, PatientRow.name, WorkflowRow.clinic_id)
             .join(WorkflowRow, WorkflowRow.id == CalendarItemRecord.workflow_id)
             .join(PatientRow, PatientRow.id == WorkflowRow.patient_id)
             .where(CalendarItemRecord.start >= start, CalendarItemRecord.start < end,
                    *in_clinics(WorkflowRow, clinics)))
    with Session(engine) as db:
        found = [Booked(workflow_id, name, stage, kind, when, item, clinic)
                 for workflow_id, stage, kind, when, item, name, clinic in db.execute(query)]
    return sorted(found, key=lambda booked: (booked.start, booked.patient_name, booked.item["id"]))


def bookable_matching(engine: Engine, stages: Iterable[str], search: str, limit: int,
                      clinics: Collection[str] | None = None) -> list[tuple[str, str, str]]:
    """(workflow id, patient name, stage) of at most `limit` workflows in these stages whose patient's name contains
    `search` (any case) or whose workflow or patient id starts with it, by patient name."""
    text = search.strip()
    either = [PatientRow.name.ilike(f"%{like_escaped(text)}%", escape="\\")]
    if len(text) >= 4 and all(ch in "0123456789abcdef-" for ch in text.lower()):
        either += [WorkflowRow.id.startswith(text.lower(), autoescape=True),
                   PatientRow.id.startswith(text.lower(), autoescape=True)]
    query = (select(WorkflowRow.id, PatientRow.name, WorkflowRow.stage)
             .join(PatientRow, PatientRow.id == WorkflowRow.patient_id)
             .where(WorkflowRow.stage.in_([str(stage) for stage in stages]), or_(*either), *in_clinics(WorkflowRow, clinics))
             .order_by(PatientRow.name, WorkflowRow.id).limit(limit))
    with Session(engine) as db:
        return [tuple(row) for row in db.execute(query)]

