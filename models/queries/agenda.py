"""The calendar's reads: what is booked in a span of time, and who something can be booked for.

Booked items live in the workflows' state documents (their `sessions` and `appointments`): one query reads those two
sub-documents of every workflow and the span is filtered here, so SQLite and PostgreSQL answer alike. Fine at clinic
scale (hundreds of active patients); many thousands would want an appointments projection indexed by start time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from models.queries.listing import in_clinics
from models.tables import PatientRow, WorkflowRow


@dataclass(frozen=True)
class Booked:
    """One session or appointment as the workflow's state holds it."""

    workflow_id: str
    patient_name: str
    stage: str  # the workflow's stage now
    kind: str  # session, evaluation, therapy
    start: datetime
    item: dict[str, Any]  # the state's session or appointment document


def booked_between(engine: Engine, start: datetime, end: datetime,
                   clinics: Collection[str] | None = None) -> list[Booked]:
    """Every session and appointment starting in [start, end), in time order (at these clinics; None: all)."""
    query = (select(WorkflowRow.id, WorkflowRow.stage, WorkflowRow.state["sessions"], WorkflowRow.state["appointments"],
                    PatientRow.name)
             .join(PatientRow, PatientRow.id == WorkflowRow.patient_id).where(*in_clinics(WorkflowRow, clinics)))
    found: list[Booked] = []
    with Session(engine) as db:
        for workflow_id, stage, sessions, appointments, name in db.execute(query):
            items = [("session", raw) for raw in (sessions or {}).values()]
            items += [(raw.get("kind", "therapy"), raw) for raw in (appointments or {}).values()]
            for kind, raw in items:
                when = datetime.fromisoformat(raw["start"])
                if start <= when < end:
                    found.append(Booked(workflow_id, name, stage, kind, when, raw))
    return sorted(found, key=lambda booked: (booked.start, booked.patient_name, booked.item["id"]))


def workflows_in(engine: Engine, stages: Iterable[str],
                 clinics: Collection[str] | None = None) -> list[tuple[str, str, str]]:
    """(workflow id, patient name, stage) of every workflow in these stages, by patient name."""
    query = (select(WorkflowRow.id, PatientRow.name, WorkflowRow.stage)
             .join(PatientRow, PatientRow.id == WorkflowRow.patient_id)
             .where(WorkflowRow.stage.in_([str(stage) for stage in stages]), *in_clinics(WorkflowRow, clinics))
             .order_by(PatientRow.name, WorkflowRow.id))
    with Session(engine) as db:
        return [tuple(row) for row in db.execute(query)]
