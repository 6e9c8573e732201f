"""The staff inbox and phone numbers, read: every inbound text newest first, the patients on a number, what is known
against a number. Each query takes an `Engine` and returns plain rows, detached from their session."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, case, func, select
from sqlmodel import Session

from models.queries.listing import Page, in_clinics
from models.tables import InboundText, PatientRow, PhoneNumber, WorkflowRow
from workflows.stages import FINAL

WAITING_FOR_STAFF = "unassigned"
_FINAL = [stage.value for stage in FINAL]


@dataclass(frozen=True)
class InboxRow:
    text: InboundText
    patient: PatientRow | None  # the patient it was applied to, if any
    workflow: WorkflowRow | None


def inbox_page(engine: Engine, *, status: str | None = None, limit: int = 25, offset: int = 0,
               clinics: Collection[str] | None = None) -> Page:
    """Inbound texts, newest first (`status` narrows them, e.g. to `unassigned`), each with the patient it went to;
    `clinics`: only texts to these clinics (None: every clinic's)."""
    conditions = [InboundText.status == status] if status else []
    conditions += in_clinics(InboundText, clinics)
    with Session(engine) as db:
        total = db.execute(select(func.count()).select_from(InboundText).where(*conditions)).scalar_one()
        rows = db.execute(
            select(InboundText, WorkflowRow, PatientRow)
            .outerjoin(WorkflowRow, WorkflowRow.id == InboundText.workflow_id)
            .outerjoin(PatientRow, PatientRow.id == WorkflowRow.patient_id)
            .where(*conditions).order_by(InboundText.received_at.desc(), InboundText.id).limit(limit).offset(offset)
        ).all()
        db.expunge_all()
    return Page([InboxRow(text, patient, workflow) for text, workflow, patient in rows], total)


def count_waiting(engine: Engine, clinics: Collection[str] | None = None) -> int:
    """Texts staff must assign."""
    with Session(engine) as db:
        return db.execute(select(func.count()).select_from(InboundText)
                          .where(InboundText.status == WAITING_FOR_STAFF, *in_clinics(InboundText, clinics))
                          ).scalar_one()


def inbound_text(engine: Engine, inbox_id: str) -> InboundText | None:
    with Session(engine) as db:
        text = db.get(InboundText, inbox_id)
        if text is not None:
            db.expunge(text)
        return text


def texts_by_id(engine: Engine, inbox_ids: Sequence[str]) -> dict[str, InboundText]:
    """The texts behind a page of worklist items (the emergencies raised by unknown numbers)."""
    if not inbox_ids:
        return {}
    with Session(engine) as db:
        rows = list(db.execute(select(InboundText).where(InboundText.id.in_(list(inbox_ids)))).scalars())
        db.expunge_all()
    return {row.id: row for row in rows}


def patients_on_number(engine: Engine, phone: str,
                       clinics: Collection[str] | None = None) -> list[tuple[WorkflowRow, PatientRow]]:
    """Every (workflow, patient) on this number: patients in care first, then most recently changed first."""
    finished = case((WorkflowRow.stage.in_(_FINAL), 1), else_=0)
    with Session(engine) as db:
        rows = db.execute(select(WorkflowRow, PatientRow).join(PatientRow, PatientRow.id == WorkflowRow.patient_id)
                          .where(PatientRow.phone == phone, *in_clinics(WorkflowRow, clinics))
                          .order_by(finished, WorkflowRow.updated_at.desc(), WorkflowRow.id)).all()
        db.expunge_all()
    return [tuple(row) for row in rows]


def others_on_number(engine: Engine, phone: str, patient_id: str,
                     clinics: Collection[str] | None = None) -> list[tuple[WorkflowRow, PatientRow]]:
    """The other patients (with their workflows) whose number this is too."""
    return [(workflow, patient) for workflow, patient in patients_on_number(engine, phone, clinics)
            if patient.id != patient_id]


def number_record(engine: Engine, phone: str) -> PhoneNumber | None:
    """What is known against a number (opted out, undeliverable), or None."""
    with Session(engine) as db:
        found = db.get(PhoneNumber, phone)
        if found is not None:
            db.expunge(found)
        return found
