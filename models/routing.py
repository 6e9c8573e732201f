"""Which workflow a patient's text belongs to, decided from the number it came from.

Today: the sender's active workflow, failing that their most recent one (a discharged patient may still text).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, select

from models.tables import InboundText, PatientRow, WorkflowRow
from models.unit_of_work import UnitOfWork
from workflows.stages import FINAL


@dataclass(frozen=True)
class Routing:
    """Where a text goes: the workflows to apply it to, or why staff must choose (then `workflow_ids` is empty)."""

    workflow_ids: tuple[str, ...] = ()
    unassigned: str | None = None  # e.g. "unknown_number": shown to staff, never patient data


def route_text(uow: UnitOfWork, text: InboundText) -> Routing:
    """The workflow(s) a stored inbound text is applied to."""
    workflow_id = find_workflow_for_phone(uow, text.from_phone)
    return Routing((workflow_id,)) if workflow_id else Routing(unassigned="unknown_number")


def find_workflow_for_phone(uow: UnitOfWork, phone: str) -> str | None:
    """The patient's active workflow; failing that their most recent one."""
    finished = case((WorkflowRow.stage.in_([stage.value for stage in FINAL]), 1), else_=0)
    query = (
        select(WorkflowRow.id)
        .join(PatientRow, PatientRow.id == WorkflowRow.patient_id)
        .where(PatientRow.phone == phone)
        .order_by(finished, WorkflowRow.updated_at.desc())
        .limit(1)
    )
    return uow.db.execute(query).scalar()
