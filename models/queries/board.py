"""The chair board's read: who is in the clinic now (checked in or dosed, not yet discharged).

One indexed query of the `sessions` projection (status and start time) joined to the workflows and patients it
belongs to: the board gets, in one round trip, the few state documents of the patients in the clinic, never those of
every workflow. The arrival and dose times, vitals and gates come from those states (the projection does not carry
them).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from models.queries.listing import in_clinics
from models.tables import PatientRow, SessionRecord, WorkflowRow

# A session in one of these states has a patient in the clinic: checked in, or dosed and being monitored.
IN_THE_CLINIC = ("arrived", "dosed")


@dataclass(frozen=True)
class InTheClinic:
    """One session with its patient in the clinic, and the workflow it belongs to (its state document as stored)."""

    workflow_id: str
    session_id: str
    clinic_id: str
    protocol_version: str
    patient_id: str
    patient_name: str
    state: dict[str, Any]


def in_the_clinic(engine: Engine, since: datetime, until: datetime,
                  clinics: Collection[str] | None = None) -> list[InTheClinic]:
    """Sessions booked in [since, until) whose patient is checked in or dosed (at these clinics; None: all)."""
    query = (select(SessionRecord.workflow_id, SessionRecord.session_key, WorkflowRow.clinic_id,
                    WorkflowRow.protocol_version, PatientRow.id, PatientRow.name, WorkflowRow.state)
             .join(WorkflowRow, WorkflowRow.id == SessionRecord.workflow_id)
             .join(PatientRow, PatientRow.id == WorkflowRow.patient_id)
             .where(SessionRecord.status.in_(IN_THE_CLINIC), SessionRecord.start >= since, SessionRecord.start < until,
                    *in_clinics(WorkflowRow, clinics))
             .order_by(SessionRecord.start, SessionRecord.workflow_id, SessionRecord.session_key))
    with Session(engine) as db:
        return [InTheClinic(*row) for row in db.execute(query)]
